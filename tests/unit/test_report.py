"""How a result reads: verdict classification and the failure text, from hand-built results (no engine)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from hardlab import outcomes, spec
from hardlab.core import records
from hardlab.core import verdict as report
from hardlab.core.expect import evaluate, judge_start_error
from hardlab.core.results import CaseResult, Observed, RunResult
from hardlab.pytest.recorder import Summary

HEADER = """\
schema_version = 1

[scenario]
id = "mounts"
title = "Mounting is refused without CAP_SYS_ADMIN"
references = ["Docker docs: runtime privilege", "CIS 5.3"]
remediation = "Never add SYS_ADMIN."
"""
BODY = """
[[case]]
id = "deny-mount"
title = "mount is refused"
container = { cap_drop = ["SYS_ADMIN"] }

[[case.step]]
name = "touch works"
shell = "touch /tmp/f"
control = true
exit_code = 0

[[case.step]]
name = "mount is refused"
exec = ["mount", "-t", "tmpfs", "none", "/mnt"]
user = "0"
exit_code = 255
stderr_contains = ["Operation not permitted"]

[case.control]
container = { cap_add = ["SYS_ADMIN"] }

[[case.control.step]]
name = "mount works with SYS_ADMIN"
exec = ["mount", "-t", "tmpfs", "none", "/mnt"]
exit_code = 0

[[case]]
id = "no-start"
title = "a missing device stops the start"
container = { devices = ["/dev/none"] }
start_error = ["no such file or directory"]
no_control_reason = "the start itself is the check"
"""
DENIED = Observed(255, "", "mount: /mnt: Operation not permitted\n")
MOUNTED = Observed(0, "", "")


@pytest.fixture
def scenario(load_scenario) -> spec.Scenario:
    return load_scenario(BODY, header=HEADER)


def run(steps, observations, started: bool = True, start_error: str = "") -> RunResult:
    return RunResult(started, start_error, [evaluate(s, o) for s, o in zip(steps, observations, strict=False)])


def case_result(case: spec.Case, main: RunResult, control: RunResult | None = None) -> CaseResult:
    return CaseResult(case, "lab:busybox@sha256:abc", {}, main, control)


def holding(scenario: spec.Scenario) -> CaseResult:
    case = scenario.cases[0]
    assert case.control is not None
    return case_result(case, run(case.steps, [MOUNTED, DENIED]), run(case.control.steps, [MOUNTED]))


def test_a_holding_case_has_no_verdict(scenario: spec.Scenario) -> None:
    assert report.verdict(holding(scenario)) is None


def test_a_failed_control_run_is_a_broken_control(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    # The engine stops after a failed control run: the case's own run never happens.
    result = case_result(case, RunResult(), run(case.control.steps, [DENIED]))
    found = report.verdict(result)
    assert found == (
        outcomes.BROKEN_CONTROL,
        "BROKEN CONTROL: the permissive twin of this case failed, so the blocked check would prove nothing",
    )


def test_a_control_container_that_did_not_start_is_a_broken_control(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    result = case_result(case, RunResult(), RunResult(False, "cannot start: no such image"))
    found = report.verdict(result)
    assert found is not None and found[0] == outcomes.BROKEN_CONTROL


def test_a_failed_control_step_in_the_same_container_is_a_broken_control(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    result = case_result(case, run(case.steps, [Observed(1, "", "touch: read-only"), DENIED]),
                         run(case.control.steps, [MOUNTED]))  # fmt: skip
    assert report.verdict(result) == (
        outcomes.BROKEN_CONTROL,
        "BROKEN CONTROL: control step 'touch works' failed in the same container, "
        "so the blocked check would prove nothing",
    )


def test_a_blocked_check_that_did_not_hold_is_a_finding(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    result = case_result(case, run(case.steps, [MOUNTED, MOUNTED]), run(case.control.steps, [MOUNTED]))
    assert report.verdict(result) == (outcomes.CONTROL_FAILED, "FAILED: mount is refused")


def test_a_container_that_did_not_start(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    error = "OCI runtime create failed: " + "x" * 400 + "\nsecond line"
    result = case_result(case, RunResult(False, error), run(case.control.steps, [MOUNTED]))
    classification, first = report.verdict(result) or ("", "")
    assert classification == outcomes.NOT_STARTED
    assert first.startswith("CONTAINER DID NOT START: OCI runtime create failed: xxx")
    assert len(first) == len("CONTAINER DID NOT START: ") + 300
    assert "second line" not in first


def test_a_container_that_started_although_it_must_not(scenario: spec.Scenario) -> None:
    case = scenario.cases[1]
    # What the engine records when a start_error case starts anyway.
    result = case_result(case, RunResult(True, "", [judge_start_error(case.start_error, "")]))
    assert report.verdict(result) == (outcomes.CONTROL_FAILED, "FAILED: a missing device stops the start")
    text = report.describe(scenario, result, "FAILED")
    assert "FAIL start error contains: expected 'no such file or directory'; observed (the container started)" in text


def test_a_container_that_fails_to_start_as_expected_holds(scenario: spec.Scenario) -> None:
    case = scenario.cases[1]
    message = 'error gathering device information while adding custom device "/dev/none": no such file or directory'
    # What the engine records when the start fails as the case expects: started=False plus a passing check.
    main = RunResult(False, message, [judge_start_error(case.start_error, message)])
    assert report.verdict(case_result(case, main)) is None


def test_a_container_that_fails_to_start_for_another_reason(scenario: spec.Scenario) -> None:
    case = scenario.cases[1]
    message = "OCI runtime create failed: permission denied"
    main = RunResult(False, message, [judge_start_error(case.start_error, message)])
    assert report.verdict(case_result(case, main)) == (
        outcomes.CONTROL_FAILED,
        "FAILED: a missing device stops the start",
    )
    text = report.describe(scenario, case_result(case, main), "FAILED")
    assert f"  container failed to start: {message}" in text.splitlines()
    assert (
        f"    FAIL start error contains: expected 'no such file or directory'; observed {message}" in text.splitlines()
    )


def test_describe_a_finding(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    result = case_result(case, run(case.steps, [MOUNTED, MOUNTED]), run(case.control.steps, [MOUNTED]))
    text = report.describe(scenario, result, "FAILED: mount is refused")
    lines = text.splitlines()
    assert lines[:5] == [
        "FAILED: mount is refused",
        "scenario: mounts — Mounting is refused without CAP_SYS_ADMIN",
        f"case:     deny-mount — mount is refused  ({scenario.path}:{case.line})",
        "image:    lab:busybox@sha256:abc",
        "refs:     Docker docs: runtime privilege; CIS 5.3",
    ]
    assert "control run (permissive twin, must succeed):" in lines
    assert "case run:" in lines
    blocked = case.steps[1]
    assert f"  step 'mount is refused' (line {blocked.line})" in lines
    assert "    $ mount -t tmpfs none /mnt as 0" in lines
    assert "    FAIL exit code: expected 255; observed 0" in lines
    assert "    FAIL stderr contains: expected 'Operation not permitted'; observed (empty)" in lines
    assert f"  step 'touch works' [control] (line {case.steps[0].line})" in lines
    assert "    $ touch /tmp/f" in lines
    assert "    ok   exit code: expected 0; observed 0" in lines
    assert lines[-1] == "remediation: Never add SYS_ADMIN."


def test_describe_a_broken_control_shows_only_the_control_run(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    result = case_result(case, RunResult(), run(case.control.steps, [DENIED]))
    _, first = report.verdict(result) or ("", "")
    text = report.describe(scenario, result, first)
    assert text.splitlines()[0] == first
    assert "  step 'mount works with SYS_ADMIN' (line" in text
    assert "FAIL exit code: expected 0; observed 255" in text
    assert "case run:" not in text


def test_describe_a_container_that_did_not_start(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    result = case_result(case, RunResult(False, "no such device"), RunResult(True, "", []))
    text = report.describe(scenario, result, "CONTAINER DID NOT START: no such device")
    assert "  container failed to start: no such device" in text.splitlines()
    assert "  (no steps ran)" in text.splitlines()  # the control run had no steps


def test_describe_a_skipped_step(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    step = spec.Step("probe", "exec", ("true",), None, 5.0, False, spec.Expectation(exit_code=(0,)),
                       spec.SkipWhen("unsupported", "the kernel lacks it"), None)  # fmt: skip
    result = case_result(case, RunResult(True, "", [evaluate(step, Observed(1, "unsupported", ""))]))
    text = report.describe(scenario, result, "x")
    assert "  step 'probe'" in text.splitlines()  # no line known: none shown
    assert "    skip: the kernel lacks it" in text.splitlines()


def test_evidence_lists_both_runs(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    result = case_result(case, run(case.steps, [MOUNTED, DENIED]), run(case.control.steps, [MOUNTED]))
    rows = records.evidence(result)
    assert [(r["run"], r["step"], r["ok"]) for r in rows] == [
        ("control", "mount works with SYS_ADMIN", True),
        ("case", "touch works", True),
        ("case", "mount is refused", True),
    ]
    assert rows[2]["stderr"] == DENIED.stderr and rows[2]["exit_code"] == 255
    assert rows[2]["checks"][0] == {"what": "exit code", "ok": True, "expected": "255", "observed": "255"}
    json.dumps(rows)  # plain data for the summary
    not_started = records.evidence(case_result(case, RunResult(False, "boom")))
    assert not_started == [{"run": "case", "step": "start", "start_error": "boom"}]


def test_case_record(scenario: spec.Scenario) -> None:
    record = records.case_record(scenario, scenario.cases[0])
    assert record["scenario"] == "mounts" and record["case"] == "deny-mount"
    assert record["line"] == scenario.cases[0].line
    assert record["references"] == ["Docker docs: runtime privilege", "CIS 5.3"]
    json.dumps(record)


def _report(nodeid: str, when: str, outcome: str, props=(), longrepr=None):
    return SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, duration=0.5, user_properties=list(props),
                           longrepr=longrepr, passed=outcome == "passed", failed=outcome == "failed",
                           skipped=outcome == "skipped")  # fmt: skip


def test_summary_classifies_outcomes(tmp_path) -> None:
    summary = Summary("run-1")
    for when in ("setup", "call", "teardown"):
        summary.add(_report("s.toml::ok", when, "passed"))
    summary.add(_report("s.toml::finding", "setup", "passed"))
    summary.add(_report("s.toml::finding", "call", "failed", [("hardlab_class", outcomes.BROKEN_CONTROL)],
                        "BROKEN CONTROL: ...\nmore"))  # fmt: skip
    summary.add(_report("s.toml::skip", "setup", "skipped", longrepr=("f", 1, "Skipped: no apparmor")))
    summary.add(_report("s.toml::engine", "setup", "failed", longrepr="HARNESS ERROR: engine down"))
    records = summary.records
    assert records["s.toml::ok"]["classification"] == "ok" and records["s.toml::ok"]["duration"] == 1.5
    assert records["s.toml::finding"]["classification"] == outcomes.BROKEN_CONTROL
    assert records["s.toml::finding"]["message"] == "BROKEN CONTROL: ..."
    assert records["s.toml::skip"]["reason"] == "no apparmor"
    assert records["s.toml::skip"]["classification"] == outcomes.HOST_FEATURE_MISSING
    assert records["s.toml::engine"]["outcome"] == "error"
    assert records["s.toml::engine"]["classification"] == outcomes.HARNESS_ERROR
    assert summary.totals() == {"passed": 1, "failed": 1, "error": 1, "skipped": 1}
    summary.write(tmp_path / "summary.json", {"engine": "20.10"})
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["run_id"] == "run-1" and data["totals"]["failed"] == 1
    assert [r["nodeid"] for r in data["results"]] == sorted(records)


def test_multi_line_observed_output_stays_indented_under_its_step(scenario: spec.Scenario) -> None:
    case = scenario.cases[0]
    assert case.control is not None
    noisy = Observed(255, "", "mount: /mnt: permission denied\nline two\n  line three\n")
    result = case_result(case, run(case.steps, [MOUNTED, noisy]), run(case.control.steps, [MOUNTED]))
    lines = report.describe(scenario, result, "FAILED: x").splitlines()
    first = "    FAIL stderr contains: expected 'Operation not permitted'; observed mount: /mnt: permission denied"
    at = lines.index(first)
    assert lines[at + 1 : at + 3] == ["         line two", "           line three"]  # under the check's name


def test_the_remediation_is_left_out_when_asked_and_summarised_once_per_scenario() -> None:
    summary = Summary("r")
    for case, outcome in (("a", "failed"), ("b", "failed"), ("c", "passed")):
        summary.records[f"x.toml::{case}"] = {"nodeid": f"x.toml::{case}", "outcome": outcome, "scenario": "x",
                                              "case": case, "remediation": "Drop it."}  # fmt: skip
    assert summary.remediations() == {"x": ("Drop it.", ["a", "b"])}


def test_a_proc_status_step_shows_what_it_reads() -> None:
    argv = spec.PROC_STATUS_ARGV
    step = spec.Step("read /proc/1/status", "exec", argv, None, 1.0, False, spec.Expectation(), None, 1)
    assert step.display == "cat /proc/1/status"


def test_a_case_whose_worker_died_is_a_harness_error_in_the_summary() -> None:
    from hardlab.pytest.recorder import Recorder

    summary = Summary("r")
    crash = SimpleNamespace(nodeid="my/own/x.toml::slow", when="???", outcome="failed", failed=True, skipped=False,
                            passed=False, duration=0.0, user_properties=[],
                            longrepr="worker 'gw1' crashed while running 'my/own/x.toml::slow'")  # fmt: skip
    Recorder(summary, {"scenarios"}).pytest_runtest_logreport(crash)
    rec = summary.records["my/own/x.toml::slow"]
    assert rec["outcome"] == "error" and rec["classification"] == outcomes.HARNESS_ERROR
    assert rec["message"].startswith("HARNESS ERROR (not a security finding): the pytest worker running this case "
                                     "died (worker 'gw1' crashed while running")  # fmt: skip
    assert rec["case"] == "slow"
