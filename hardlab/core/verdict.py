"""The verdict of a case and the text of a finding: what failed, expected vs observed, step by step. Pure."""

from __future__ import annotations

from hardlab.core.results import CaseResult, RunResult, StepResult
from hardlab.outcomes import BROKEN_CONTROL, CONTROL_FAILED, NOT_STARTED
from hardlab.spec import Scenario


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


def describe(
    scenario: Scenario, result: CaseResult, first_line: str, *, references: bool = True, remediation: bool = True
) -> str:
    """The failure text: verdict, scenario and line, then each step with expected vs observed;
    the scenario's references and remediation unless left out (the audit shows them once per check)."""
    case = result.case
    lines = [
        first_line,
        f"scenario: {scenario.id} — {scenario.title}",
        f"case:     {case.id} — {case.title}  ({scenario.path}:{case.line})",
        f"image:    {result.image}",
    ]
    if references and scenario.references:
        lines.append(f"refs:     {'; '.join(scenario.references)}")
    if result.control is not None:
        lines += ["", "control run (permissive twin, must succeed):", *_run_lines(result.control, "  ")]
    if result.control is None or result.control.ok:
        lines += ["", "case run:", *_run_lines(result.main, "  ")]
    if remediation and scenario.remediation:
        lines += ["", f"remediation: {scenario.remediation}"]
    return "\n".join(lines)


def hanging(first: str, text: str, pad: str) -> str:
    """`first` + `text` where every further line of `text` is indented by `pad`, so a multi-line observed
    output stays inside its step instead of breaking the failure's layout."""
    rest = text.splitlines() or [""]
    return first + rest[0] + "".join(f"\n{pad}{line}" for line in rest[1:])


def _run_lines(run: RunResult, pad: str) -> list[str]:
    out: list[str] = []
    if not run.started and run.start_error:
        out.append(hanging(f"{pad}container failed to start: ", run.start_error, pad + "  "))
    for sr in run.steps:
        out += _step_lines(sr, pad)
    return out or [f"{pad}(no steps ran)"]


def _step_lines(sr: StepResult, pad: str) -> list[str]:
    step = sr.step
    role = " [control]" if step.control else ""
    where = f" (line {step.line})" if step.line else ""
    lines = [f"{pad}step {step.name!r}{role}{where}"]
    if step.kind == "exec" or step.main:
        user = f" as {step.user}" if step.user else ""
        lines.append(hanging(f"{pad}  $ ", f"{step.display}{user}", pad + "    "))
    for note in step.decided:
        lines.append(f"{pad}  engine facts: {note}")
    for check in sr.checks:
        mark = "ok  " if check.ok else "FAIL"
        head = f"{pad}  {mark} {check.what}: "
        text = f"expected {check.expected}; observed {check.observed}"
        lines.append(hanging(head, text, pad + "       "))
    if sr.observed.note:
        lines.append(f"{pad}  note: {sr.observed.note}")
    if sr.observed.cut:
        lines.append(f"{pad}  note: output cut: {sr.observed.cut}")
    if sr.skip_reason:
        lines.append(f"{pad}  skip: {sr.skip_reason}")
    return lines
