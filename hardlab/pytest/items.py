"""Scenario files become pytest items: one `File` per TOML file, one `Function` per case.

Modelled on pytest's "non-Python tests" example and Tavern: `CaseItem` is a `pytest.Function` built with
`callobj=`, so it gets real fixtures, marks and xdist support; its `repr_failure` puts the verdict on the
first line. The whole file is validated before any of its cases is collected; an invalid file becomes one
item that errors with every problem, so every other file still runs (no collection error, no stop).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hardlab import outcomes, spec
from hardlab.core import records, verdict
from hardlab.core.inputs import InputError
from hardlab.core.results import CaseResult
from hardlab.pytest.state import harness_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class CaseFailure(Exception):
    """A case did not hold; the message is the whole finding."""

    def __init__(self, classification: str, text: str):
        self.classification = classification
        super().__init__(text)


def judge(request: pytest.FixtureRequest, hardlab_case_run: CaseResult | InputError) -> None:
    """The call phase of every case: decide from what the setup phase observed."""
    result = hardlab_case_run
    item = request.node
    if isinstance(result, InputError):
        item.user_properties.append(("hardlab_class", outcomes.HARNESS_ERROR))
        raise CaseFailure(outcomes.HARNESS_ERROR, f"INPUT ERROR: {result}")
    if result.skip_reason:
        if result.main.skipped_by_rule and item.config.getoption("hardlab_strict"):
            item.user_properties.append(("hardlab_class", outcomes.HOST_FEATURE_MISSING))
            raise CaseFailure(outcomes.HOST_FEATURE_MISSING, f"STRICT: {result.skip_reason}")
        pytest.skip(result.skip_reason)  # pointed at the case's TOML line by the plugin's makereport hook
    found = verdict.verdict(result)
    if found:
        classification, first_line = found
        item.user_properties.append(("hardlab_class", classification))
        # The scenario's remediation is printed once, in the run's hardlab summary, not under every failure.
        raise CaseFailure(classification, verdict.describe(item.scenario, result, first_line, remediation=False))


class ScenarioFile(pytest.File):
    """One TOML scenario file."""

    def collect(self) -> Any:
        try:
            scenario = spec.load(self.path, root=self.config.rootpath)
        except (spec.ScenarioError, Exception) as exc:
            # Anything else the loader raises is a hardlab bug, but still this file's problem alone: reported
            # like a bad file (a sentence, no traceback), so every other file still runs.
            problems = str(exc) if isinstance(exc, spec.ScenarioError) else (
                f"{spec.display_path(self.path, self.config.rootpath)}: hardlab could not read this file "
                f"({type(exc).__name__}: {exc}); this is a hardlab bug, please report it with the file"
            )  # fmt: skip
            invalid = InvalidScenario.from_parent(self, name="invalid-scenario-file", problems=problems)
            for tag in _raw_tags(self.path):  # so `-m TAG` still shows the broken file
                self.config.addinivalue_line("markers", f"{tag}: hardlab scenario tag")
                invalid.add_marker(getattr(pytest.mark, tag))
            yield invalid
            return
        for tag in dict.fromkeys((*scenario.tags, *(t for c in scenario.cases for t in c.tags))):
            # Tags become markers; registered before use so `-m seccomp` works under --strict-markers.
            self.config.addinivalue_line("markers", f"{tag}: hardlab scenario tag")
        for case in scenario.cases:
            item = CaseItem.from_parent(self, name=case.id, callobj=judge, scenario=scenario, case=case)
            item.add_marker(pytest.mark.hardlab)
            for tag in dict.fromkeys((*scenario.tags, *case.tags)):
                item.add_marker(getattr(pytest.mark, tag))
            item.user_properties.append(("hardlab", json.dumps(records.case_record(scenario, case))))
            yield item


class CaseItem(pytest.Function):
    """One case of a scenario: setup runs it on the engine, call judges it."""

    def __init__(
        self, *, scenario: spec.Scenario, case: spec.Case, inputs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.case = case
        self.hardlab_inputs: dict[str, Any] = dict(inputs or {})  # values from outside (a student's files)
        self.hardlab_result: Any = None  # what the setup phase observed (a CaseResult), for the allure result

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailure):
            return str(excinfo.value)
        if not isinstance(excinfo.value, (pytest.fail.Exception, pytest.skip.Exception, AssertionError)):
            # Not a finding and not hardlab's own failure: harness trouble of this case, as a sentence
            # (the plugin's makereport hook classifies it). Never pytest's traceback machinery, which
            # raised INTERNALERROR on a callobj item.
            return harness_text(excinfo.value, f"{self.path}:{self.case.line}")
        try:
            return super().repr_failure(excinfo)
        except Exception:  # never an INTERNALERROR that stops every other case
            return harness_text(excinfo.value, f"{self.path}:{self.case.line}")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.case.line or 1) - 1, f"{self.scenario.id}::{self.case.id}"


class InvalidScenario(pytest.Item):
    """An invalid scenario file: one ERROR listing every problem with file, line and key."""

    def __init__(self, *, problems: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.problems = problems
        self.user_properties.append(("hardlab_class", outcomes.HARNESS_ERROR))
        self.user_properties.append(("hardlab", json.dumps({"file": str(self.path), "invalid": True})))

    def setup(self) -> None:
        raise pytest.fail.Exception(f"invalid scenario file:\n{self.problems}", pytrace=False)

    def runtest(self) -> None:  # pragma: no cover - setup always fails first
        raise AssertionError("an invalid scenario file has nothing to run")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"{self.path.name}: invalid scenario file"


def _raw_tags(path: Path) -> list[str]:
    """The tags an invalid file's [scenario] and cases name, read leniently (none when it is not TOML)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return []
    cases: list[Any] = data["case"] if isinstance(data.get("case"), list) else []
    tables = [t for t in (data.get("scenario"), *cases) if isinstance(t, dict)]
    found = [t for table in tables if isinstance(table.get("tags"), list) for t in table["tags"]]
    return list(dict.fromkeys(t for t in found if isinstance(t, str) and spec.TAG.match(t)))
