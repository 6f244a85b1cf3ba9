"""A case and its evidence as plain data: the records of summary.json, JUnit properties and allure. Pure."""

from __future__ import annotations

from typing import Any

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


def case_record(scenario: Scenario, case: Case) -> dict[str, Any]:
    return {
        "scenario": scenario.id,
        "scenario_title": scenario.title,
        "case": case.id,
        "title": case.title,
        "file": str(scenario.path),
        "line": case.line,
        "tags": sorted(set(scenario.tags) | set(case.tags)),
        "requires": sorted(set(scenario.requires) | set(case.requires)),
        "references": list(scenario.references),
        "remediation": scenario.remediation,
    }
