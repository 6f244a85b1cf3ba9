"""How results read: a failure as a security finding, and the machine-readable run summary."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hardlab.core.expect import StepResult
from hardlab.engine.runner import CaseResult, RunResult
from hardlab.spec import Case, Scenario

# How a non-pass is classified in every output, so ops can tell a finding from an environment problem.
CONTROL_FAILED = "control-failed"  # the security control did not hold: a finding
BROKEN_CONTROL = "broken-control"  # the permissive twin failed: the check proves nothing
NOT_STARTED = "container-did-not-start"
HOST_FEATURE_MISSING = "host-feature-missing"
HARNESS_ERROR = "harness-error"  # engine down, image missing, bad input: not a finding


def verdict(result: CaseResult) -> tuple[str, str] | None:
    """(classification, first line) for a failing case, None when it holds."""
    if result.control is not None and not result.control.ok:
        return BROKEN_CONTROL, (
            "BROKEN CONTROL: the permissive twin of this case failed, so the blocked check would prove nothing"
        )
    if not result.main.started and not result.case.start_error:
        return NOT_STARTED, f"CONTAINER DID NOT START: {result.main.start_error.splitlines()[0][:300]}"
    if not result.main.ok:
        broken = [s for s in result.main.steps if s.step.control and not s.ok]
        if broken:
            return BROKEN_CONTROL, (
                f"BROKEN CONTROL: control step {broken[0].step.name!r} failed in the same container, "
                "so the blocked check would prove nothing"
            )
        return CONTROL_FAILED, f"FAILED: {result.case.title}"
    return None


def describe(scenario: Scenario, result: CaseResult, first_line: str) -> str:
    """The failure text: verdict, scenario and line, then each step with expected vs observed."""
    case = result.case
    lines = [
        first_line,
        f"scenario: {scenario.id} — {scenario.title}",
        f"case:     {case.id} — {case.title}  ({scenario.path}:{case.line})",
        f"image:    {result.image}",
    ]
    if scenario.references:
        lines.append(f"refs:     {'; '.join(scenario.references)}")
    if result.control is not None:
        lines += ["", "control run (permissive twin, must succeed):", *_run_lines(result.control, "  ")]
    if result.control is None or result.control.ok:
        lines += ["", "case run:", *_run_lines(result.main, "  ")]
    if scenario.remediation:
        lines += ["", f"remediation: {scenario.remediation}"]
    return "\n".join(lines)


def _run_lines(run: RunResult, pad: str) -> list[str]:
    out: list[str] = []
    if not run.started and run.start_error:
        out.append(f"{pad}container failed to start: {run.start_error}")
    for sr in run.steps:
        out += _step_lines(sr, pad)
    return out or [f"{pad}(no steps ran)"]


def _step_lines(sr: StepResult, pad: str) -> list[str]:
    step = sr.step
    role = " [control]" if step.control else ""
    where = f" (line {step.line})" if step.line else ""
    lines = [f"{pad}step {step.name!r}{role}{where}"]
    if step.kind == "exec":
        user = f" as {step.user}" if step.user else ""
        lines.append(f"{pad}  $ {step.display}{user}")
    for check in sr.checks:
        mark = "ok  " if check.ok else "FAIL"
        lines.append(f"{pad}  {mark} {check.what}: expected {check.expected}; observed {check.observed}")
    if sr.skip_reason:
        lines.append(f"{pad}  skip: {sr.skip_reason}")
    return lines


def evidence(result: CaseResult) -> list[dict[str, Any]]:
    """Every step of both runs as plain data, for the JSON summary and allure."""
    out = []
    for label, run in (("control", result.control), ("case", result.main)):
        if run is None:
            continue
        if not run.started:
            out.append({"run": label, "step": "start", "start_error": run.start_error})
        for sr in run.steps:
            out.append(
                {
                    "run": label,
                    "step": sr.step.name,
                    "control": sr.step.control,
                    "command": sr.step.display,
                    "exit_code": sr.observed.exit_code,
                    "stdout": sr.observed.stdout[-2000:],
                    "stderr": sr.observed.stderr[-2000:],
                    "duration": round(sr.observed.duration, 3),
                    "checks": [c.__dict__ for c in sr.checks],
                    "ok": sr.ok,
                }
            )
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


class Summary:
    """Collects pytest reports (on the xdist controller too) into reports/summary.json."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.started = time.time()
        self.records: dict[str, dict[str, Any]] = {}

    def add(self, report: Any) -> None:
        props = dict(report.user_properties)
        rec = self.records.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0})
        rec["duration"] = round(rec["duration"] + report.duration, 3)
        if "hardlab" in props:
            rec.update(json.loads(props["hardlab"]))
        if "hardlab_evidence" in props:
            rec["evidence"] = json.loads(props["hardlab_evidence"])
        if "hardlab_class" in props:
            rec["classification"] = props["hardlab_class"]
        if report.when == "call" or report.outcome != "passed":
            if report.skipped:
                rec["outcome"] = "skipped"
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                rec["reason"] = reason.removeprefix("Skipped: ")
                rec.setdefault("classification", HOST_FEATURE_MISSING)
            elif report.failed:
                rec["outcome"] = "failed" if report.when == "call" else "error"
                rec.setdefault("classification", HARNESS_ERROR if report.when != "call" else CONTROL_FAILED)
                rec["message"] = str(report.longrepr).splitlines()[0][:500] if report.longrepr else ""
        if report.when == "call" and report.passed:
            rec["outcome"] = "passed"
            rec["classification"] = "ok"

    def totals(self) -> dict[str, int]:
        counts = Counter(r["outcome"] for r in self.records.values())
        return {k: counts.get(k, 0) for k in ("passed", "failed", "error", "skipped")}

    def write(self, path: Path, host: dict[str, Any] | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "run_id": self.run_id,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration": round(time.time() - self.started, 2),
            "totals": self.totals(),
            "host": host or {},
            "results": sorted(self.records.values(), key=lambda r: r["nodeid"]),
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")

    def skip_reasons(self) -> Counter[str]:
        return Counter(r.get("reason", "") for r in self.records.values() if r["outcome"] == "skipped")
