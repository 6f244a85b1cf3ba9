"""allure results that tell the truth about a case: its steps at the times they ran, its identity even when skipped.

A case runs in its setup fixture, often ahead of its turn in a pool of threads (hardlab.pytest.prefetch), so
allure's own clock (the call phase, or a `with allure.step` there) would show a 1 s case as a few
milliseconds. The engine stamps every step with the wall-clock time it began; here, once the case's last
phase is reported, its allure result gets those steps, grouped by run (control, case) with their container
start, and the case's real start and stop. Title, feature, severity, CIS links, container options and the
reason of a skip are set in the same place, so a case skipped in setup (a host feature missing) keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest
from allure_commons import plugin_manager  # allure-pytest is a dependency of hardlab
from allure_commons.model2 import (
    ATTACHMENT_PATTERN,
    Attachment,
    Label,
    Link,
    Parameter,
    Status,
    StatusDetails,
    TestStepResult,
)
from allure_commons.utils import uuid4

from hardlab.core import allure_data, records
from hardlab.core.results import CaseResult, RunResult, StepResult
from hardlab.outcomes import HARNESS_ERROR, HOST_FEATURE_MISSING

IDENTITY_LABELS = {"feature", "story", "severity"}  # set here once, replacing what allure guessed


def reporter(config: pytest.Config) -> Any:
    """allure-pytest's reporter of this process (None without --alluredir)."""
    listener = config.pluginmanager.get_plugin("allure_listener")
    return getattr(listener, "allure_logger", None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
    """Keep pytest's own bookkeeping finalizer (it calls pytest_fixture_post_finalizer) out of allure: allure
    wraps every finalizer as a teardown "fixture", and this one showed as `NAME::<lambda>` with no status.
    The finalizers a fixture itself adds (its teardown) are added during the setup and stay wrapped."""
    own = list(getattr(fixturedef, "_finalizers", ()))  # pytest adds its bookkeeping one before this hook
    try:
        return (yield)
    finally:
        finalizers = getattr(fixturedef, "_finalizers", None)
        if finalizers is not None and reporter(request.config) is not None:
            for index, original in enumerate(own):
                if index < len(finalizers):
                    finalizers[index] = original


def finish(item: Any) -> None:
    """The case's allure result, complete: called when its teardown is reported (allure writes it after)."""
    rep = reporter(item.config)
    test = rep.get_test(None) if rep is not None else None
    if test is None:
        return
    scenario, case = item.scenario, item.case
    record = records.case_record(scenario, case)
    result = getattr(item, "hardlab_result", None)
    test.name = f"{scenario.id}: {case.title}"
    test.description = description(scenario, case, record, result)
    test.labels = [lb for lb in test.labels if lb.name not in IDENTITY_LABELS]
    test.labels += [Label("feature", scenario.id), Label("story", case.id), Label("severity", case.severity)]
    test.labels += [Label("tag", f"CIS {c['id']}") for c in record["cis"]]
    test.links += [Link(lk["type"], lk["url"], lk["name"]) for lk in allure_data.cis_links(record["cis"])]
    shown = {"image": case.image if case.runner != "host" else "(host)", "container": record["container"],
             "control container": record["control_container"]}  # fmt: skip
    for name, value in shown.items():
        if value:  # excluded: the options are the case's identity already, not a history key
            test.parameters.append(Parameter(name=name, value=_compact(value), excluded=True))
    _status(item, test)
    if isinstance(result, CaseResult):
        _steps(test, result)


def _status(item: Any, test: Any) -> None:
    """A finding is failed, harness trouble broken, a host limit skipped: each message starts with its
    classification so categories.json sorts it (allure alone calls any non-assert exception broken)."""
    classes = [v for k, v in item.user_properties if k == "hardlab_class"]
    details = test.statusDetails or StatusDetails()
    text = (details.trace or details.message or "").removeprefix("Skipped: ")
    if test.status == Status.SKIPPED:
        classification = classes[-1] if classes else HOST_FEATURE_MISSING
        reason = (details.message or "").removeprefix("Skipped: ")
        test.statusDetails = StatusDetails(message=allure_data.message(classification, reason), trace=reason)
    elif test.status in (Status.FAILED, Status.BROKEN):
        classification = classes[-1] if classes else HARNESS_ERROR
        test.status = allure_data.status(classification)
        message = details.message or ""
        for prefix in ("hardlab.pytest.items.CaseFailure: ", "Failed: "):
            message = message.removeprefix(prefix)
        test.statusDetails = StatusDetails(message=allure_data.message(classification, message), trace=text)


def description(scenario: Any, case: Any, record: dict[str, Any], result: Any) -> str:
    """The case as a student reads it (allure renders Markdown): what, where, with which options, and the fix."""
    lines = [f"**{scenario.title}**", "", scenario.description.strip(), ""]
    lines.append(f"- file: `{record['file']}:{record['line']}`")
    if case.runner != "host":
        lines.append(f"- image: `{case.image}`")
        lines.append(f"- container options: `{_compact(record['container'])}`")
        if record["control_container"] is not None:
            lines.append(f"- control container options: `{_compact(record['control_container'])}`")
    if record["cis"]:
        lines.append("- CIS Docker Benchmark: " + ", ".join(c["id"] for c in record["cis"]))
    if scenario.remediation:
        lines += ["", f"**Remediation:** {scenario.remediation}"]
    return "\n".join(lines).strip()


def _steps(test: Any, result: CaseResult) -> None:
    """The case's steps at the times they ran, one group per run; the test spans them."""
    test.steps = []
    for label, run in (("control run (the permissive twin)", result.control), ("case run", result.main)):
        if run is None or not run.started_at:
            continue
        test.steps.append(_run_step(label, run))
    if test.steps:
        test.start = min(s.start for s in test.steps)
        test.stop = max(s.stop for s in test.steps)


def _run_step(label: str, run: RunResult) -> Any:
    group = TestStepResult(name=label, start=allure_data.ms(run.started_at))
    clock = run.started_at
    if run.start_duration or not run.started:
        start = TestStepResult(name="start the container", start=allure_data.ms(run.started_at),
                               stop=allure_data.ms(run.started_at + run.start_duration),
                               status=Status.PASSED if run.started else Status.FAILED)  # fmt: skip
        if not run.started:
            start.statusDetails = StatusDetails(message=run.start_error)
        group.steps.append(start)
        clock = run.started_at + run.start_duration
    for sr in run.steps:
        began = sr.observed.started_at or clock  # a judged start error has no run of its own
        step = TestStepResult(name=sr.step.name, start=allure_data.ms(began),
                              stop=allure_data.ms(began + sr.observed.duration))  # fmt: skip
        clock = began + sr.observed.duration
        step.status = Status.SKIPPED if sr.skip_reason else Status.PASSED if sr.ok else Status.FAILED
        failing = [f"{c.what}: expected {c.expected}; observed {c.observed}" for c in sr.checks if not c.ok]
        if failing or sr.skip_reason:
            step.statusDetails = StatusDetails(message="\n".join(failing) or sr.skip_reason)
        if sr.step.control:
            step.parameters.append(Parameter(name="control", value="true"))
        step.parameters.append(Parameter(name="exit code", value=str(sr.observed.exit_code)))
        _attach(step, sr)
        group.steps.append(step)
    group.stop = max([allure_data.ms(clock), *(s.stop for s in group.steps)])
    statuses = {s.status for s in group.steps}
    group.status = Status.FAILED if Status.FAILED in statuses else Status.SKIPPED if run.skip_reason else Status.PASSED
    if run.skip_reason:
        group.statusDetails = StatusDetails(message=run.skip_reason)
    return group


def _attach(step: Any, sr: StepResult) -> None:
    seen = sr.observed
    output = f"exit code: {seen.exit_code}\n--- stdout\n{seen.stdout}\n--- stderr\n{seen.stderr}"
    if seen.cut or seen.note:
        output += "\n--- hardlab\n" + "\n".join(t for t in (seen.note, seen.cut) if t)
    checks = "\n".join(f"{'ok  ' if c.ok else 'FAIL'} {c.what}: expected {c.expected}; observed {c.observed}"
                       for c in sr.checks)  # fmt: skip
    for name, body in (("command", sr.step.display), ("output", output), ("checks", checks)):
        source = ATTACHMENT_PATTERN.format(prefix=uuid4(), ext="txt")
        plugin_manager.hook.report_attached_data(body=body, file_name=source)
        step.attachments.append(Attachment(name=name, source=source, type="text/plain"))


def _compact(value: Any) -> str:
    """Options as one line a person reads: `pids_limit=32, cap_drop=[ALL]`."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items()) or "(none)"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return value if isinstance(value, str) else json.dumps(value)


def write_categories(folder: Any) -> None:
    """categories.json beside the results: findings, harness trouble and host limits apart."""
    (folder / "categories.json").write_text(json.dumps(allure_data.CATEGORIES, indent=1))
