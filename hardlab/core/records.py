"""A case and its evidence as plain data: the records of summary.json, JUnit properties and allure. Pure."""

from __future__ import annotations

import re
from typing import Any

from hardlab.config import relative
from hardlab.core.results import CaseResult
from hardlab.spec import Case, Scenario


def evidence(result: CaseResult) -> list[dict[str, Any]]:
    """Every step of both runs as plain data, for the JSON summary and allure."""
    out: list[dict[str, Any]] = []
    for label, run in (("control", result.control), ("case", result.main)):
        if run is None:
            continue
        container = run.container_id[:12]  # which container: runs sharing one show the same id
        if not run.started:
            out.append({"run": label, "step": "start", "start_error": run.start_error})
        for sr in run.steps:
            row: dict[str, Any] = {
                "run": label,
                "step": sr.step.name,
                "control": sr.step.control,
                "command": sr.step.display,
                "container": container,
                "exit_code": sr.observed.exit_code,
                "stdout": sr.observed.stdout[-2000:],
                "stderr": sr.observed.stderr[-2000:],
                "duration": round(sr.observed.duration, 3),
                "checks": [c.__dict__ for c in sr.checks],
                "ok": sr.ok,
            }
            if sr.step.decided:
                row["depends_on"] = list(sr.step.decided)  # the engine facts that decided the expectation
            out.append(row)
    return out


SCHEMA_VERSION = 2  # summary.json's shape; the audit's results.json is a superset of the same schema
CIS_URL = "https://www.cisecurity.org/benchmark/docker"  # the benchmark's page: CIS publishes no per-control URL
_CIS_REF = re.compile(r"CIS Docker Benchmark(?: v(?P<version>[\d.]+))?(?P<ids>(?:[\s,;]+\d+(?:\.\d+)+)+)")


def cis(references: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    """The CIS ids free text names ('CIS Docker Benchmark 5.28, 5.10'), each with the benchmark's link."""
    out: dict[str, dict[str, str]] = {}
    for ref in references:
        for m in _CIS_REF.finditer(ref):
            for cid in re.findall(r"\d+(?:\.\d+)+", m.group("ids")):
                out.setdefault(cid, {"id": cid, "benchmark": "CIS Docker Benchmark",
                                     **({"version": m.group("version")} if m.group("version") else {}),
                                     "url": CIS_URL})  # fmt: skip
    return list(out.values())


def cis_selected(ids: list[str], include: list[str], exclude: list[str]) -> bool:
    """--cis / --skip-cis: a selector names a control (5.12) or a section (5 -> 5.x); a case with no CIS id is
    left out by --cis and kept by --skip-cis."""

    def hit(selectors: list[str]) -> bool:
        return any(i == s or i.startswith(s.rstrip(".") + ".") for i in ids for s in selectors)

    return (not include or hit(include)) and not hit(exclude)


def case_record(scenario: Scenario, case: Case) -> dict[str, Any]:
    return {
        "scenario": scenario.id,
        "scenario_title": scenario.title,
        "case": case.id,
        "title": case.title,
        "file": relative(scenario.path),
        "line": case.line,
        "tags": sorted(set(scenario.tags) | set(case.tags)),
        "requires": sorted(set(scenario.requires) | set(case.requires)),
        "references": list(scenario.references),
        "cis": cis(scenario.references),
        "remediation": scenario.remediation,
        "image": case.image,
        "container": shown_options(case.container),
        "control_container": shown_options(case.control.container) if case.control else None,
    }


def shown_options(options: Any) -> Any:
    """Container options as a report shows them: a seccomp profile's JSON text is named, not pasted."""
    if isinstance(options, dict) or hasattr(options, "items"):
        return {str(k): shown_options(v) for k, v in options.items()}
    if isinstance(options, (list, tuple)):
        return [shown_options(v) for v in options]
    if isinstance(options, str) and len(options) > 200:
        head, sep, _ = options.partition("=")
        return f"{head}=<{len(options)} characters>" if sep and len(head) < 40 else options[:200] + "…"
    return options if isinstance(options, (int, float, bool, type(None))) else str(options)
