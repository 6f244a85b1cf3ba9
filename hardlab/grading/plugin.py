"""pytest plugin for `hardlab grade`: a grading plan becomes one spine `CaseItem` per student x assignment x
check, with the student's staged files as `item.hardlab_inputs`, so xdist, controls, labels and sweeps are the
spine's. Loaded with `-p hardlab.grading.plugin`; it only collects a file named like `grading_plan.PLAN_NAME`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from hardlab import outcomes
from hardlab import spec as spec_api
from hardlab.core import records
from hardlab.errors import HarnessError
from hardlab.grading.limits import Limits
from hardlab.grading.plan import PLAN_NAME, RECORDS_NAME, Entry, Plan
from hardlab.pytest.items import CaseFailure, CaseItem, judge
from hardlab.pytest.recorder import skip_reason
from hardlab.pytest.state import run_state

REFUSED = "submission-refused"
BUILD_FAILED = "image-did-not-build"
OPTIONS_REFUSED = "options-refused-by-engine"
RUNS_AS_ROOT = "image-runs-as-root"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> PlanFile | None:
    if file_path.name == PLAN_NAME:
        return PlanFile.from_parent(parent, path=file_path)
    return None


def limited_case(case: spec_api.Case, limits: Limits) -> spec_api.Case:
    """The case under the course's hard limits: the scenario may set its own (it is the instructor's), a
    submission's options are checked against them before they get here; steps get at most step_timeout."""
    container = {**limits.container(), **case.container}

    def steps(items: tuple[spec_api.Step, ...]) -> tuple[spec_api.Step, ...]:
        return tuple(dataclasses.replace(s, timeout=min(s.timeout, limits.step_timeout)) for s in items)

    control = case.control
    if control is not None:
        control = dataclasses.replace(control, steps=steps(control.steps))
    return dataclasses.replace(case, container=container, steps=steps(case.steps), control=control)


class PlanFile(pytest.File):
    """The grading plan: every entry an item, in the plan's (sorted) order, the same on every worker."""

    def collect(self) -> Any:
        plan = Plan.from_json(self.path.read_text(encoding="utf-8"))
        limits = Limits(**plan.limits)
        scenarios: dict[str, spec_api.Scenario] = {}
        order: dict[str, int] = {}
        for n, entry in enumerate(plan.entries):
            if entry.scenario not in scenarios:
                scenarios[entry.scenario] = spec_api.load(entry.scenario)
            scenario = scenarios[entry.scenario]
            case = next(c for c in scenario.cases if c.id == entry.case)
            inputs = {k: v for k, v in entry.inputs.items() if k in scenario.inputs}
            item = GradeItem.from_parent(
                self, name=entry.nodeid, callobj=grade_judge, scenario=scenario, case=limited_case(case, limits),
                inputs=inputs, grade=entry, limits=limits,
            )  # fmt: skip
            item.add_marker(pytest.mark.hardlab)
            order.setdefault(entry.assignment, len(order))
            record = {k: v for k, v in dataclasses.asdict(entry).items() if k not in {"inputs", "build"}}
            record.update(order=order[entry.assignment], check_order=n)
            item.user_properties.append(("hardlab", json.dumps(records.case_record(scenario, case))))
            item.user_properties.append(("hardlab_grade", json.dumps(record)))
            yield item


class GradeItem(CaseItem):
    """One check of one student's assignment."""

    def __init__(self, *, grade: Entry, limits: Limits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grade = grade
        self.limits = limits

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


def _fail(item: GradeItem, classification: str, text: str) -> None:
    item.user_properties.append(("hardlab_class", classification))
    raise CaseFailure(classification, text)


def grade_judge(request: pytest.FixtureRequest) -> None:
    """Refused submissions fail without running anything; the rest build (if needed) and run the case."""
    item: GradeItem = request.node
    entry = item.grade
    if entry.skip:
        item.user_properties.append(("hardlab_class", outcomes.HOST_FEATURE_MISSING))
        pytest.skip(entry.skip)
    if entry.rejected:
        _fail(item, REFUSED, f"SUBMISSION REFUSED: {entry.rejected}")
    values = dict(item.hardlab_inputs)
    if entry.build:
        values[entry.build["input"]] = _built_image(request, item)
        if entry.engine_user == "non-root":
            _engine_user_gate(request, item, values[entry.build["input"]])
    if spec_api.placeholders(item.case.image):
        defaults = {n: i.default for n, i in item.scenario.inputs.items() if i.kind == "text"}
        item.case = dataclasses.replace(item.case, image=spec_api.substitute(item.case.image, {**defaults, **values}))
    item.hardlab_inputs = values
    reuse = _control_key(item, values)
    if reuse and reuse.is_file():
        # The same permissive twin (image, options, steps) already passed in this run: its outcome is a
        # function of those alone, so it is not run again for every student.
        item.case = dataclasses.replace(item.case, control=None)
    try:
        result = request.getfixturevalue("hardlab_case_run")
    except pytest.fail.Exception as failure:
        if not isinstance(failure.__cause__, HarnessError):
            raise  # not engine trouble (e.g. --hardlab-strict): as the spine reports it
        text = str(failure.__cause__)
        if "refused to create" in text and any(isinstance(v, dict) for v in values.values()):
            _fail(item, OPTIONS_REFUSED, f"THE ENGINE REFUSED YOUR RUN OPTIONS: {text}")
        _fail(item, outcomes.HARNESS_ERROR, f"HARNESS ERROR (not the student's fault; regrade): {text}")
    control = getattr(result, "control", None)
    if reuse and control is not None and control.ok and not control.skip_reason:
        reuse.write_text("ok\n")
    try:
        judge(request, result)
    except CaseFailure as exc:
        if exc.classification != outcomes.NOT_STARTED:
            raise
        raise CaseFailure(exc.classification, f"{exc}\n\n{_why_not_started(item)}") from None


def _why_not_started(item: GradeItem) -> str:
    kinds = {item.scenario.inputs[n].kind for n in item.hardlab_inputs if n in item.scenario.inputs}
    text = "why: the container never started, so nothing could be checked and this check earns nothing."
    if next(c for c in item.scenario.cases if c.id == item.case.id).control is not None:
        text += " The same case's control (its permissive twin) did start."
    if "seccomp" in kinds:
        text += (" Your seccomp profile is applied before the container's first program runs: a profile that "
                 "refuses everything (or execve, futex, ...) stops the container itself.")  # fmt: skip
    return text


def _control_key(item: GradeItem, values: dict[str, Any]) -> Path | None:
    """Where this case's control outcome is shared within the run, keyed by everything the control runs."""
    import hashlib
    import tempfile

    from hardlab.core.inputs import InputError, bind, container_for
    from hardlab.spec import DEFAULT_LIMITS

    case = item.case
    if case.control is None:
        return None
    try:
        bound = bind(item.scenario, values)
        options = {**DEFAULT_LIMITS, **container_for(case, bound)}
    except InputError:
        return None
    control = {**options, **spec_api.substitute(dict(case.control.container), bound)}
    steps = [(s.argv, s.user, s.timeout, repr(s.expect)) for s in case.control.steps]
    text = json.dumps([case.image, control, steps, str(item.scenario.path)], sort_keys=True, default=str)
    run_id = run_state(item.config).run_id
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"hardlab-grade-ctl-{run_id}-{digest}.ok"


def _built_image(request: pytest.FixtureRequest, item: GradeItem) -> str:
    from hardlab.engine import images
    from hardlab.engine.build import BuildError, build
    from hardlab.engine.build import Limits as BuildLimits

    state = run_state(request.config)
    try:
        client = request.getfixturevalue("hardlab_client")
    except pytest.fail.Exception as failure:
        if not isinstance(failure.__cause__, HarnessError):
            raise
        _fail(item, outcomes.HARNESS_ERROR, f"HARNESS ERROR (not the student's fault; regrade): {failure.__cause__}")
    spec = item.grade.build or {}
    for lab in ("busybox", "tools"):
        if images.tag_for(lab) == spec.get("base"):
            images.ensure(client, images.PREFIX + lab)
    try:
        limits = BuildLimits(item.limits.container(), item.limits.step_timeout, item.limits.build_timeout,
                             item.limits.build_log_bytes, item.limits.image_bytes)
        return build(client, spec, limits, state.run_id, state.owner)
    except BuildError as exc:
        _fail(item, BUILD_FAILED, f"YOUR IMAGE DID NOT BUILD: {exc}")
    except HarnessError as exc:
        _fail(item, outcomes.HARNESS_ERROR, f"HARNESS ERROR (not the student's fault; regrade): {exc}")
    raise AssertionError("unreachable")


def _engine_user_gate(request: pytest.FixtureRequest, item: GradeItem, image: str) -> None:
    """Fail the check unless the engine runs `image` as a non-root uid: judged from the image's config and
    its /etc/passwd read through the engine, so a fake /bin/id (or a stateful one) earns nothing."""
    from hardlab.engine import labels
    from hardlab.engine.build import image_user
    from hardlab.engine.client import EngineError

    state = run_state(request.config)
    client = request.getfixturevalue("hardlab_client")
    try:
        user = image_user(client, image, labels.for_run(state.run_id, state.owner, f"user {item.grade.nodeid}"))
    except EngineError as exc:
        _fail(item, outcomes.HARNESS_ERROR, f"HARNESS ERROR (not the student's fault; regrade): {exc}")
    if user.uid is None:
        _fail(item, RUNS_AS_ROOT, f"THE ENGINE CANNOT TELL YOUR IMAGE'S USER: {user.why}")
    if user.uid == 0:
        _fail(item, RUNS_AS_ROOT, f"THE ENGINE RUNS YOUR IMAGE AS ROOT: {user.why} (read from the image's config "
                                  "through the engine, not from the image's programs)")  # fmt: skip


class GradeRecorder:
    """On the controller: one record per graded check, written next to the plan when the run ends."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = {str(k): str(v) for k, v in report.user_properties}
        if "hardlab_grade" not in props:
            return
        rec = self.records.setdefault(report.nodeid, {**json.loads(props["hardlab_grade"]), "outcome": "error"})
        klass = props.get("hardlab_class", "")
        if report.when == "call":
            if report.passed:
                rec.update(outcome="passed", classification="ok", message="")
            elif report.skipped:
                rec.update(outcome="skipped", classification=klass or "skipped", message=skip_reason(report))
            else:
                outcome = {REFUSED: "rejected", report_harness(): "error"}.get(klass, "failed")
                rec.update(outcome=outcome, classification=klass or "failed", message=str(report.longrepr))
        elif report.failed and rec["outcome"] != "failed":
            rec.update(outcome="error", classification=report_harness(), message=str(report.longrepr)[:4000])
        elif report.when == "setup" and report.skipped:
            rec.update(outcome="skipped", classification="skipped", message=skip_reason(report))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        plan = next((Path(a) for a in session.config.args if Path(a).name == PLAN_NAME), None)
        if plan is None:
            return
        (plan.parent / RECORDS_NAME).write_text(json.dumps(list(self.records.values()), indent=1))
        _remove_images(session.config)
        _remove_run_files(session.config)


def report_harness() -> str:
    return outcomes.HARNESS_ERROR


def _remove_images(config: pytest.Config) -> None:
    from hardlab.engine.build import remove_run_images
    from hardlab.engine.client import EngineError, connect

    try:
        remove_run_images(connect(timeout=60), run_state(config).run_id)
    except EngineError:
        return


def _remove_run_files(config: pytest.Config) -> None:
    import tempfile


    run_id = run_state(config).run_id
    patterns = (f"hardlab-grade-ctl-{run_id}-*.ok", f"hardlab-grade-build-*-{run_id}.lock",
                f"hardlab-grade-build-*-{run_id}.failed")  # fmt: skip
    for pattern in patterns:
        for path in Path(tempfile.gettempdir()).glob(pattern):
            path.unlink(missing_ok=True)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(GradeRecorder(), "hardlab-grade-recorder")
