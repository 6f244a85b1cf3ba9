"""Real scenarios on the real engine: passing, failing readably, erroring honestly, never leaking."""

from __future__ import annotations

import pytest

from .conftest import DATA, leftovers

pytestmark = pytest.mark.e2e


def test_seed_pack_subset_passes_under_xdist(run_hardlab, docker_client) -> None:
    out = run_hardlab("scenarios/seccomp/custom-profiles.toml", "scenarios/hardening", "-n", "2")
    assert out.code == 0, out.output
    assert out.summary["totals"]["passed"] == 10, out.summary["totals"]
    chown = out.result("deny-chown")
    stderr = [e["stderr"] for e in chown["evidence"] if e["step"] == "chown is refused"]
    assert stderr == ["chown: test.txt: Operation not permitted\n"]
    assert leftovers(docker_client, out.run_id) == []


def test_wrong_expectation_fails_with_a_readable_finding(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "wrong-expectation.toml"))
    assert out.code == 1
    text = out.output
    first = text[text.index("FAILED: claims") :].splitlines()
    assert first[0] == "FAILED: claims a default container runs without a seccomp filter"
    assert "scenario: wrong-expectation" in text and "wrong-expectation.toml:7" in text
    assert "FAIL /proc status Seccomp: expected 0; observed 2" in text
    assert "missing {CAP_SYS_TIME}" in text and "unexpected {CAP_AUDIT_WRITE, CAP_CHOWN" in text
    assert "ok   /proc status Seccomp: expected 0; observed 0" in text  # the control held
    assert out.result("claims-unconfined")["classification"] == "control-failed"
    assert leftovers(docker_client, out.run_id) == []


def test_broken_control_never_passes(run_hardlab) -> None:
    out = run_hardlab(str(DATA / "broken-control.toml"))
    assert out.code == 1
    assert "BROKEN CONTROL: control step 'the control: the same command works when allowed' failed" in out.output
    assert out.result("missing-binary")["classification"] == "broken-control"


def test_hanging_step_is_killed_after_its_timeout(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "hang.toml"))
    assert out.code == 1
    assert "FAIL finished in time: expected within 2s; observed still running after" in out.output
    assert out.result("sleeps-forever")["duration"] < 30
    assert leftovers(docker_client, out.run_id) == []


def test_missing_image_is_a_harness_error_not_a_finding(run_hardlab) -> None:
    out = run_hardlab(str(DATA / "missing-image.toml"))
    assert out.code == 1
    assert "HARNESS ERROR (not a security finding)" in out.output
    rec = out.result("no-such-image")
    assert rec["outcome"] == "error" and rec["classification"] == "harness-error"


def test_start_failures(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "start-error.toml"))
    assert out.result("expected-start-failure")["outcome"] == "passed"
    unexpected = out.result("unexpected-start-failure")
    assert unexpected["outcome"] == "failed" and unexpected["classification"] == "container-did-not-start"
    assert "CONTAINER DID NOT START" in out.output and "hardlab-no-such-device" in out.output
    assert leftovers(docker_client, out.run_id) == []  # a failed start leaves no Created container


def test_invalid_file_is_one_collection_error_and_the_rest_runs(run_hardlab) -> None:
    out = run_hardlab(str(DATA / "invalid.toml"), str(DATA / "valid.toml"))
    assert out.code in (1, 2)
    assert "invalid.toml:10: case[0].container.cap_add: unknown capability 'NOT_A_CAP'" in out.output
    assert "invalid.toml:10: case[0].container.privilegd: unknown key (did you mean 'privileged'?)" in out.output
    assert (
        "invalid.toml:14: case[0].step[0].exit_code: expected an integer or a non-empty list of integers" in out.output
    )
    assert out.result("seccomp-on")["outcome"] == "passed"


def test_privileged_cases_skip_naming_the_host_limit(run_hardlab, docker_client) -> None:
    from hardlab.engine.probe import probe

    facts = probe(docker_client)
    out = run_hardlab("scenarios/privileged", "--hardlab-strict" if False else "-q")
    rec = out.result("full-capability-mask")
    if facts.features["privileged"].ok:
        assert rec["outcome"] == "passed", rec
    else:
        assert rec["outcome"] == "skipped"
        assert rec["reason"].startswith("host lacks 'privileged'")
        assert "unable to apply caps" in rec["reason"]
        strict = run_hardlab("scenarios/privileged", "--hardlab-strict")
        assert strict.code == 1 and "STRICT: host lacks 'privileged'" in strict.output


def test_engine_down_is_a_harness_error_for_every_case(run_hardlab, tmp_path) -> None:
    out = run_hardlab(str(DATA / "valid.toml"), env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert out.code == 1
    assert "no Docker Engine answers at unix://" in out.output
    assert out.result("seccomp-on")["outcome"] == "error"
    assert "Traceback" not in out.output and "hardlab/engine.py" not in out.output
