"""A course as data: its assignments, the graded checks of each with their points and hints, and the
Dockerfile a submission builds. Pure: no pytest, no docker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardlab import spec
from hardlab.grading.limits import Limits


@dataclass(frozen=True)
class Check:
    """One graded case: its points and the hint a student sees when it fails."""

    scenario: spec.Scenario
    case: spec.Case
    points: float
    hint: str
    line: int | None
    # "non-root": before the case runs, the engine's view of the built image's user (its config and the
    # /etc/passwd it names, read through the engine) must not be root; the image's own programs can lie.
    engine_user: str = ""


ENGINE_USER_VALUES = ("non-root",)


@dataclass(frozen=True)
class Build:
    """Build the student's Dockerfile (offline, FROM a lab image) and fill `input` with the image."""

    dockerfile: str
    input: str


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    scenario: spec.Scenario
    inputs: Mapping[str, str]  # scenario input -> path inside the student's folder
    allow: Mapping[str, tuple[Any, ...]]  # run option -> values a submission may ask for
    build: Build | None
    requires_host_files: tuple[str, ...]
    checks: tuple[Check, ...]
    line: int | None

    @property
    def max_points(self) -> float:
        return points_sum(c.points for c in self.checks)

    def input_kind(self, name: str) -> str:
        for sc in self.scenarios():
            if name in sc.inputs:
                return sc.inputs[name].kind
        raise KeyError(name)

    def scenarios(self) -> list[spec.Scenario]:
        out = {id(self.scenario): self.scenario}
        for check in self.checks:
            out.setdefault(id(check.scenario), check.scenario)
        return list(out.values())


@dataclass(frozen=True)
class Course:
    path: Path
    id: str
    title: str
    limits: Limits
    assignments: tuple[Assignment, ...]

    @property
    def max_points(self) -> float:
        return points_sum(a.max_points for a in self.assignments)


def points_sum(values: Any) -> float:
    """Sum points without float noise (0.1 + 0.2 stays 0.3): hundredths are the unit."""
    return round(sum(round(float(v) * 100) for v in values) / 100, 2)


def case_inputs(case: spec.Case) -> set[str]:
    """Inputs a case reads: ${name} in its image, options and commands, and use_inputs."""
    used = spec.placeholders(case.image) | spec.placeholders(dict(case.container)) | set(case.use_inputs)
    steps = list(case.steps) + (list(case.control.steps) if case.control else [])
    for step in steps:
        used |= spec.placeholders(list(step.argv))
    if case.control:
        used |= spec.placeholders(dict(case.control.container))
    return used
