"""expect_start (a case asserts that its container is refused, or that an option is silently ignored, with
no automatic requires in the way) and run_as = "main" (the step's command is PID 1), on a real engine."""

from __future__ import annotations

import pytest

from .conftest import DATA, leftovers

pytestmark = pytest.mark.e2e


def test_expect_start_asserts_what_this_host_does(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "start-expect.toml"))
    features = out.summary["host"]["features"]
    refused = out.result("privileged-refused")
    if features["privileged"]["ok"]:  # a host that grants --privileged: the assertion fails, as it should
        assert refused["outcome"] == "failed" and refused["classification"] == "control-failed", refused
    else:  # this sandbox (20.10, "unable to apply caps"): the case runs, not skipped, and holds
        assert refused["outcome"] == "passed", (refused, out.output[-2000:])
        assert "unable to apply caps" in features["privileged"]["evidence"]
    assert out.result("refused-any-error")["outcome"] == "passed"
    ignored = out.result("apparmor-ignored")
    skipped = out.result("implied-still-skips")
    if features["apparmor"]["ok"]:  # AppArmor enforces: the unknown profile stops the start
        assert ignored["outcome"] == "failed" and ignored["classification"] == "container-did-not-start", ignored
        assert skipped["outcome"] == "failed"
    else:
        assert ignored["outcome"] == "passed", (ignored, out.output[-2000:])
        assert ignored["requires"] == [], ignored  # expect_start: no implied apparmor requirement
        assert skipped["outcome"] == "skipped" and "apparmor" in skipped["reason"], skipped
    assert leftovers(docker_client, out.run_id) == []


def test_run_as_main_makes_the_step_pid_1_and_exec_is_the_default(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "run-as-main.toml"))
    main = out.result("shell-is-pid-1")
    assert main["outcome"] == "passed", (main, out.output[-2000:])
    seen = [e for e in main["evidence"] if e.get("step") == "echo $$ as the main process"]
    assert seen and seen[0]["stdout"] == "1\n" and seen[0]["exit_code"] == 3, main["evidence"]
    assert out.result("exec-is-not-pid-1")["outcome"] == "passed"
    assert out.code == 0, out.output[-2000:]
    assert leftovers(docker_client, out.run_id) == []


def test_a_failing_main_step_reads_as_pid_1(run_hardlab, tmp_path) -> None:
    bad = tmp_path / "wrong.toml"
    bad.write_text((DATA / "run-as-main.toml").read_text().replace('stdout_equals = "1"', 'stdout_equals = "2"'))
    out = run_hardlab(str(bad))
    assert out.result("shell-is-pid-1")["outcome"] == "failed"
    assert "(as the container's main process, PID 1)" in out.output, out.output[-2000:]
