"""The scenario model: frozen dataclasses that a validated scenario file becomes (see hardlab.spec.load)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias


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
    stdout_equals: str | None = None  # the whole stream, trailing newlines aside (hardlab.core.expect)
    stderr_equals: str | None = None
    proc_status: tuple[tuple[str, str], ...] = ()
    caps: tuple[tuple[str, tuple[str, ...]], ...] = ()
    errno: tuple[str, ...] = ()
    errno_not: tuple[str, ...] = ()
    oom_killed: bool | None = None

    def is_empty(self) -> bool:
        return self == Expectation()


# Host steps (`runner = "host"`): run by hardlab.hoststeps on the host, not in a container. `${name}`
# placeholders in them are filled at run time from the trust lab.


@dataclass(frozen=True)
class CliStep:
    """`cli = ["docker", ...]`: the docker CLI, with content trust on unless `content_trust = false`;
    `client` names the machine: "default", "fresh" (a new DOCKER_CONFIG each time) or any other name."""

    argv: tuple[str, ...]
    content_trust: bool = True
    client: str = "default"

    @property
    def display(self) -> str:
        return " ".join(self.argv)


@dataclass(frozen=True)
class PushStep:
    """`push = { ref, variant, signed }`: a tiny image tagged `ref` (its content told apart by `variant`),
    pushed with content trust (signed) or with --disable-content-trust."""

    ref: str
    variant: str = "default"
    signed: bool = True
    written: tuple[str, ...] = field(default=(), compare=False)  # the keys the file set, in its order

    @property
    def display(self) -> str:
        written = {k: getattr(self, k) for k in self.written}
        return f"push {written}"


@dataclass(frozen=True)
class NotaryStep:
    """`notary = "stop"`: stop the trust lab's notary server."""

    action: str

    @property
    def display(self) -> str:
        return f"notary {self.action}"


@dataclass(frozen=True)
class ScanStep:
    """`scan = { target, feed, severity, threshold, backend }`: `hardlab scan` of an image (`lab:NAME` is a
    lab image) against an advisory feed (relative to the scenario's folder)."""

    target: str
    feed: str
    severity: str = "High"
    threshold: int = 0
    backend: str = "builtin"
    written: tuple[str, ...] = field(default=(), compare=False)  # the keys the file set, in its order

    @property
    def display(self) -> str:
        written = {k: getattr(self, k) for k in self.written}
        return f"scan {written}"


HostAction: TypeAlias = CliStep | PushStep | NotaryStep | ScanStep


@dataclass(frozen=True)
class FactRule:
    """`[[...step.when]]`: on an engine whose facts meet every condition, the step expects `expect` in place
    of the keys it names (`replaces`), or the case skips with `skip`. `reference` says which change made
    the engine behave so. `cases` limits the rule to some of a parametrized case's rows (by case id)."""

    conditions: tuple[tuple[str, str], ...]  # (fact, condition as written), e.g. ("engine", ">=23.0")
    expect: Expectation
    replaces: tuple[str, ...]  # the expectation keys the rule sets, as written (errno, cap_eff, ...)
    skip: str
    reference: str
    cases: tuple[str, ...] = ()
    line: int | None = None


# What a step with only proc_status/cap_* expectations runs: PID 1's status plus the kernel's cap width.
PROC_STATUS_ARGV = ("/bin/sh", "-c", "cat /proc/1/status; echo CapLastCap: $(cat /proc/sys/kernel/cap_last_cap)")


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # "exec" or "wait" (container steps); "cli", "push", "notary" or "scan" (host steps)
    argv: tuple[str, ...]
    user: str | None
    timeout: float
    control: bool
    expect: Expectation
    skip_when: SkipWhen | None
    line: int | None
    host: HostAction | None = None  # what a host step does; None for a container step
    when: tuple[FactRule, ...] = ()  # engine-dependent expectations, first match wins
    decided: tuple[str, ...] = ()  # which engine facts decided the expectation (set by hardlab.core.rules)
    main: bool = False  # run_as = "main": argv is the container's entrypoint, judged as a wait step

    @property
    def display(self) -> str:
        if self.host is not None:
            return self.host.display
        if self.kind == "wait" and self.main and self.argv:
            return f"{self._command} (as the container's main process, PID 1)"
        if self.kind == "wait":
            return "(wait for the container's main process to exit)"
        return self._command

    @property
    def _command(self) -> str:
        if self.argv == PROC_STATUS_ARGV:
            return "cat /proc/1/status"  # what it reads (hardlab adds the kernel's cap_last_cap)
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
    severity: str = "normal"  # the case's, else its defaults', else its scenario's (vocabulary.SEVERITIES)


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
    severity: str = "normal"
