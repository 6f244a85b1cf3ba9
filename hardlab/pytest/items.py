"""Scenario files become pytest items: one `File` per TOML file, one `Function` per case.

Items are `pytest.Function`s built with `callobj=`, so they get real fixtures, marks and xdist support
without patching pytest internals. The whole file is validated before any of its cases is collected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hardlab import spec
from hardlab.core import report
from hardlab.core.inputs import InputError
from hardlab.engine.runner import CaseResult


class CaseFailure(Exception):
    """A case did not hold; the message is the whole finding."""

    def __init__(self, classification: str, text: str):
        self.classification = classification
        super().__init__(text)


class ScenarioCollectError(Exception):
    """A scenario file is invalid; every problem is listed with file, line and key."""


def judge(request: pytest.FixtureRequest, hardlab_case_run: CaseResult | InputError) -> None:
    """The call phase of every case: decide from what the setup phase observed."""
    result = hardlab_case_run
    if isinstance(result, InputError):
        request.node.user_properties.append(("hardlab_class", report.HARNESS_ERROR))
        raise CaseFailure(report.HARNESS_ERROR, f"INPUT ERROR: {result}")
    allure_steps(request.node.scenario, request.node.case, result)
    if result.skip_reason:
        # Point the skip at the case's TOML line, not at this function.
        raise pytest.skip.Exception(result.skip_reason, _use_item_location=True)
    found = report.verdict(result)
    if found:
        classification, first_line = found
        request.node.user_properties.append(("hardlab_class", classification))
        raise CaseFailure(classification, report.describe(request.node.scenario, result, first_line))


class ScenarioFile(pytest.File):
    """One TOML scenario file."""

    def collect(self) -> Any:
        try:
            scenario = spec.load(self.path, root=self.config.rootpath)
        except spec.ScenarioError as exc:
            raise ScenarioCollectError(str(exc)) from None
        for case in scenario.cases:
            item = CaseItem.from_parent(self, name=case.id, callobj=judge)
            item.scenario = scenario
            item.case = case
            item.add_marker(pytest.mark.hardlab)
            for tag in dict.fromkeys((*scenario.tags, *case.tags)):
                item.add_marker(getattr(pytest.mark, tag))
            item.user_properties.append(("hardlab", json.dumps(report.case_record(scenario, case))))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioCollectError):
            return f"invalid scenario file:\n{excinfo.value}"
        return super().repr_failure(excinfo)


class CaseItem(pytest.Function):
    """One case of a scenario: setup runs it on the engine, call judges it."""

    scenario: spec.Scenario
    case: spec.Case

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        if isinstance(excinfo.value, CaseFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.case.line or 1) - 1, f"{self.scenario.id}::{self.case.id}"


def allure_steps(scenario: Any, case: Any, result: Any) -> None:
    """Each step an allure step with its command and output (in the call phase, so allure files them
    under the test, not its setup fixture). Tags are already allure labels through the pytest markers."""
    try:
        import allure
    except ImportError:  # pragma: no cover
        return
    allure.dynamic.feature(scenario.id)
    allure.dynamic.title(f"{scenario.id}: {case.title}")
    allure.dynamic.description(f"{scenario.title}\n\n{scenario.description}\n\nRemediation: {scenario.remediation}")
    for label, run in (("control", result.control), ("case", result.main)):
        if run is None:
            continue
        for sr in run.steps:
            verdict = "ok" if sr.ok else "FAIL"
            with allure.step(f"[{label}] {sr.step.name} — {verdict}"):
                allure.attach(sr.step.display, "command", allure.attachment_type.TEXT)
                seen = sr.observed
                text = f"exit code: {seen.exit_code}\n--- stdout\n{seen.stdout}\n--- stderr\n{seen.stderr}"
                allure.attach(text, "output", allure.attachment_type.TEXT)
                checks = "\n".join(
                    f"{'ok  ' if c.ok else 'FAIL'} {c.what}: expected {c.expected}; observed {c.observed}"
                    for c in sr.checks
                )
                allure.attach(checks, "checks", allure.attachment_type.TEXT)
