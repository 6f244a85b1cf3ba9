"""One error hierarchy. A failed security check is a *finding*; everything else that stops hardlab from
judging is *harness trouble* or *bad input*, and must never be reported as a finding.

    HardlabError
    ├── HarnessError      hardlab could not do its job: engine down, image missing, VM, trust lab, tools
    └── BadInput          what the user gave cannot be used: a scenario, course or profile file, an argument
        └── ProblemsError every problem of one file, each with file, line and key

Findings are not exceptions in the library: they are results (`hardlab.core.verdict`). The pytest
adapter raises its own `CaseFailure` only to hand a finding's text to pytest.
"""

from __future__ import annotations

from dataclasses import dataclass


class HardlabError(Exception):
    """Base of every error hardlab raises on purpose; its message is a sentence for the user."""


class HarnessError(HardlabError):
    """The harness could not do its job (engine down, image missing, API error): not a security finding."""


class BadInput(HardlabError):
    """An input is unusable: the message names the file and the key."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input file, named by file, line and key path."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProblemsError(BadInput):
    """Everything wrong with one file, one problem per line (scenarios, course files, host profiles, daemon.json)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
