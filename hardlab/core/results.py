"""What a run observed, as plain data: a step's output and checks, a container's life, a case's two runs.

Pure: the engine fills these in, the verdict and the reports read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hardlab.spec import Case, Step


@dataclass(frozen=True)
class Observed:
    """What the kernel and the engine did for one step."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration: float = 0.0
    timed_out: bool = False
    oom_killed: bool | None = None
    cut: str = ""  # what of the output was not kept (a flooding step), said in the failure text
    note: str = ""  # why the step could not run at all (e.g. the container had already exited)
    started_at: float = 0.0  # wall clock (epoch seconds) when the step began: reports place it in time


@dataclass(frozen=True)
class Check:
    """One expectation's outcome: what was expected, what was seen."""

    what: str
    ok: bool
    expected: str
    observed: str


@dataclass
class StepResult:
    step: Step
    observed: Observed
    checks: list[Check] = field(default_factory=list)
    skip_reason: str = ""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)



@dataclass
class RunResult:
    """One container's life: did it start, and what each step showed."""

    started: bool = True
    start_error: str = ""
    steps: list[StepResult] = field(default_factory=list)
    skip_reason: str = ""
    container_id: str = ""
    skipped_by_rule: bool = False  # a `when` rule skipped it: the engine lacks a behaviour (strict fails it)
    started_at: float = 0.0  # wall clock (epoch seconds) when this run asked for its container
    start_duration: float = 0.0  # seconds creating and starting a container of its own (0: a shared one)

    @property
    def ok(self) -> bool:
        # A container that did not start holds only if it was expected not to (a start-error check ran).
        return all(s.ok for s in self.steps) and (self.started or bool(self.steps))


@dataclass
class CaseResult:
    case: Case
    image: str
    options: dict[str, Any]
    main: RunResult
    control: RunResult | None = None
    control_options: dict[str, Any] | None = None

    @property
    def skip_reason(self) -> str:
        return (self.control.skip_reason if self.control else "") or self.main.skip_reason
