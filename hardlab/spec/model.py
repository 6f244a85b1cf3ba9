"""The scenario model: frozen dataclasses that a validated scenario file becomes (see hardlab.spec.load)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SkipWhen:
    stdout_contains: str
    reason: str


@dataclass(frozen=True)
class Expectation:
    """What one step must show. Evaluated by hardlab.core.expect."""

    exit_code: tuple[int, ...] | None = None
    stdout_contains: tuple[str, ...] = ()
    stdout_not_contains: tuple[str, ...] = ()
    stdout_matches: tuple[str, ...] = ()
    stderr_contains: tuple[str, ...] = ()
    stderr_not_contains: tuple[str, ...] = ()
    stderr_matches: tuple[str, ...] = ()
    output_contains: tuple[str, ...] = ()
    proc_status: tuple[tuple[str, str], ...] = ()
    caps: tuple[tuple[str, tuple[str, ...]], ...] = ()
    errno: tuple[str, ...] = ()
    errno_not: tuple[str, ...] = ()
    oom_killed: bool | None = None

    def is_empty(self) -> bool:
        return self == Expectation()


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # "exec" (run in the case's container) or "wait" (wait for its main process to exit)
    argv: tuple[str, ...]
    user: str | None
    timeout: float
    control: bool
    expect: Expectation
    skip_when: SkipWhen | None
    line: int | None
    host: Mapping[str, Any] | None = None  # a host step's table: {"cli": [...], "client": "fresh", ...}

    @property
    def display(self) -> str:
        if self.host is not None:
            spec = self.host[self.kind]
            return " ".join(spec) if isinstance(spec, list) else f"{self.kind} {spec}"
        if self.kind == "wait":
            return "(wait for the container's main process to exit)"
        if len(self.argv) == 3 and self.argv[:2] == ("/bin/sh", "-c"):
            return self.argv[2]
        return " ".join(self.argv)


@dataclass(frozen=True)
class ControlRun:
    """A permissive twin of the case: same probe, looser setting, must succeed."""

    container: Mapping[str, Any]
    steps: tuple[Step, ...]
    line: int | None


@dataclass(frozen=True)
class Input:
    name: str
    kind: str
    default: Any
    description: str
    base: Path  # what a relative default path is relative to


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    tags: tuple[str, ...]
    requires: tuple[str, ...]
    image: str
    container: Mapping[str, Any]
    use_inputs: tuple[str, ...]
    steps: tuple[Step, ...]
    control: ControlRun | None
    start_error: tuple[str, ...]
    no_control_reason: str
    line: int | None
    runner: str = "container"
    uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    path: Path
    id: str
    title: str
    description: str
    tags: tuple[str, ...]
    requires: tuple[str, ...]
    references: tuple[str, ...]
    remediation: str
    inputs: Mapping[str, Input]
    cases: tuple[Case, ...]
    line: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
