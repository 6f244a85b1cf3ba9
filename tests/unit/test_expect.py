"""Judging what a step observed: every expectation kind passing and failing, with its expected/observed text."""

from __future__ import annotations

from typing import Any

import pytest

from hardlab import spec
from hardlab.core.expect import Check, Observed, evaluate, excerpt, parse_errno, parse_status

# /proc/1/status of a container with Docker's defaults, as the kernel writes it (tabs), plus the line
# spec.PROC_STATUS_ARGV appends.
DEFAULT_STATUS = (
    "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nPid:\t1\n"
    "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t0 1 2 3 4 6 10 11 20 26 27 \n"
    "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n"
    "CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\n"
    "Seccomp_filters:\t1\nSpeculation_Store_Bypass:\tthread force mitigated\nCapLastCap: 40\n"
)


def step(kind: str = "exec", timeout: float = 10.0, skip_when: spec.SkipWhen | None = None, **expect: Any):
    argv = () if kind == "wait" else ("/bin/sh", "-c", "probe")
    return spec.Step("probe", kind, argv, None, timeout, False, spec.Expectation(**expect), skip_when, 7)


def only_check(result) -> Check:
    (check,) = result.checks
    return check


def test_exit_code() -> None:
    ok = evaluate(step(exit_code=(0,)), Observed(0, "", ""))
    assert ok.ok and only_check(ok) == Check("exit code", True, "0", "0")
    bad = evaluate(step(exit_code=(0,)), Observed(1, "", ""))
    assert not bad.ok and only_check(bad) == Check("exit code", False, "0", "1")
    either = evaluate(step(exit_code=(1, 255)), Observed(255, "", ""))
    assert either.ok and only_check(either).expected == "1 or 255"
    assert only_check(evaluate(step(exit_code=(0,)), Observed(None, "", ""))).observed == "None"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_contains_and_not_contains(stream: str) -> None:
    text = "chown: test.txt: Operation not permitted\n"
    seen = Observed(1, text, "") if stream == "stdout" else Observed(1, "", text)

    ok = evaluate(step(**{f"{stream}_contains": ("Operation not permitted",)}), seen)
    assert ok.ok
    assert only_check(ok) == Check(f"{stream} contains", True, "'Operation not permitted'", text.strip())

    bad = evaluate(step(**{f"{stream}_contains": ("uid=0",)}), seen)
    assert only_check(bad) == Check(f"{stream} contains", False, "'uid=0'", text.strip())

    absent = evaluate(step(**{f"{stream}_not_contains": ("uid=0",)}), seen)
    assert only_check(absent) == Check(f"{stream} does not contain", True, "no 'uid=0'", text.strip())

    present = evaluate(step(**{f"{stream}_not_contains": ("not permitted",)}), seen)
    assert not present.ok and only_check(present).expected == "no 'not permitted'"


def test_an_empty_stream_reads_as_empty() -> None:
    check = only_check(evaluate(step(stderr_contains=("denied",)), Observed(0, "out", "")))
    assert not check.ok and check.observed == "(empty)"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_matches_is_a_multiline_search(stream: str) -> None:
    text = "first line\nuid=1000(user) gid=1000\n"
    seen = Observed(0, text, "") if stream == "stdout" else Observed(0, "", text)
    ok = only_check(evaluate(step(**{f"{stream}_matches": (r"^uid=1000\b",)}), seen))
    assert ok == Check(f"{stream} matches", True, r"/^uid=1000\b/", text.strip())
    bad = only_check(evaluate(step(**{f"{stream}_matches": (r"^uid=0\(",)}), seen))
    assert not bad.ok and bad.expected == r"/^uid=0\(/"


def test_output_contains_reads_both_streams() -> None:
    seen = Observed(1, "started\n", "mount: permission denied\n")
    result = evaluate(step(output_contains=("started", "permission denied")), seen)
    assert result.ok and [c.what for c in result.checks] == ["output contains", "output contains"]
    bad = evaluate(step(output_contains=("mounted",)), seen)
    assert not bad.ok and "started" in only_check(bad).observed and "denied" in only_check(bad).observed


def test_long_output_is_shortened_in_the_observed_text() -> None:
    long = "a" * 300 + "MIDDLE" + "z" * 300
    check = only_check(evaluate(step(stdout_contains=("nothing",)), Observed(0, long, "")))
    assert " … " in check.observed and "MIDDLE" not in check.observed
    assert check.observed.startswith("a" * 200) and check.observed.endswith("z" * 200)
    assert excerpt("  short \n") == "short"


def test_parse_status_folds_tabs_and_keeps_the_first_value() -> None:
    fields = parse_status(DEFAULT_STATUS + "Seccomp:\t0\nnot a field line\nBad Name:\tx\n")
    assert fields["Uid"] == "0 0 0 0"
    assert fields["Groups"] == "0 1 2 3 4 6 10 11 20 26 27"
    assert fields["State"] == "S (sleeping)"
    assert fields["Speculation_Store_Bypass"] == "thread force mitigated"
    assert fields["Seccomp"] == "2"  # the kernel's line, not a later echo
    assert fields["CapLastCap"] == "40"
    assert "Bad Name" not in fields and "not a field line" not in fields


def test_proc_status() -> None:
    result = evaluate(step(proc_status=(("Uid", "0 0 0 0"), ("Seccomp", "2"), ("NoNewPrivs", "1"))),
                      Observed(0, DEFAULT_STATUS, ""))  # fmt: skip
    uid, seccomp, nnp = result.checks
    assert uid == Check("/proc status Uid", True, "0 0 0 0", "0 0 0 0")
    assert seccomp.ok
    assert nnp == Check("/proc status NoNewPrivs", False, "1", "0")
    absent = only_check(evaluate(step(proc_status=(("Seccomp", "2"),)), Observed(0, "Name:\tsh\n", "")))
    assert absent == Check("/proc status Seccomp", False, "2", "(field absent)")


def test_capabilities_by_name() -> None:
    seen = Observed(0, DEFAULT_STATUS, "")
    ok = only_check(evaluate(step(caps=(("CapEff", ("@docker-default",)),)), seen))
    assert ok.ok and ok.what == "CapEff capabilities"
    assert ok.expected.startswith("00000000a80425fb = {CAP_AUDIT_WRITE, CAP_CHOWN,")
    assert ok.observed.startswith("00000000a80425fb = {CAP_AUDIT_WRITE, CAP_CHOWN,")

    dropped = only_check(evaluate(step(caps=(("CapEff", ("@docker-default", "-NET_RAW", "SYS_ADMIN")),)), seen))
    assert not dropped.ok
    assert "; missing {CAP_SYS_ADMIN}" in dropped.observed
    assert "; unexpected {CAP_NET_RAW}" in dropped.observed

    none = only_check(evaluate(step(caps=(("CapAmb", ("@none",)),)), seen))
    assert none == Check("CapAmb capabilities", True, "0000000000000000 = {} (none)", "0000000000000000 = {} (none)")


def test_all_capabilities_use_the_observed_cap_last_cap() -> None:
    full = DEFAULT_STATUS.replace("CapBnd:\t00000000a80425fb", "CapBnd:\t000001ffffffffff")
    assert evaluate(step(caps=(("CapBnd", ("@all",)),)), Observed(0, full, "")).ok
    # The same mask on a kernel with cap_last_cap 37 has three unknown-to-it bits set.
    older = full.replace("CapLastCap: 40", "CapLastCap: 37")
    check = only_check(evaluate(step(caps=(("CapBnd", ("@all",)),)), Observed(0, older, "")))
    assert not check.ok and "unexpected {CAP_BPF, CAP_CHECKPOINT_RESTORE, CAP_PERFMON}" in check.observed
    # Without CapLastCap, @all cannot be judged: a failed check that says why, not a crash.
    blind = only_check(evaluate(step(caps=(("CapBnd", ("@all",)),)), Observed(0, "CapBnd:\t000001ffffffffff\n", "")))
    assert not blind.ok and "cap_last_cap" in blind.observed


def test_a_missing_capability_field() -> None:
    check = only_check(evaluate(step(caps=(("CapEff", ("@none",)),)), Observed(0, "Name:\tsh\n", "")))
    assert check == Check("CapEff capabilities", False, "@none", "(no CapEff in /proc status)")


def test_parse_errno() -> None:
    assert parse_errno("mount: ret=-1 errno=EPERM\n") == "EPERM"
    assert parse_errno("ret=0 errno=OK") == "OK"
    assert parse_errno("noerrno=EPERM") is None
    assert parse_errno("errno=eperm") is None
    assert parse_errno("") is None


def test_stdout_equals_is_the_whole_stream_but_its_trailing_newlines() -> None:
    ok = only_check(evaluate(step(stdout_equals="uid=0(root)\n"), Observed(0, "uid=0(root)\n\n", "")))
    assert ok == Check("stdout equals", True, "'uid=0(root)'", "'uid=0(root)'")
    more = only_check(evaluate(step(stdout_equals="1"), Observed(0, "12\n", "")))
    assert not more.ok and more.observed == "'12'"
    lead = only_check(evaluate(step(stderr_equals="x"), Observed(0, "", " x")))
    assert not lead.ok  # leading whitespace counts


def test_errno() -> None:
    ok = only_check(evaluate(step(errno=("EPERM", "EACCES")), Observed(0, "ret=-1 errno=EACCES\n", "")))
    assert ok == Check("errno", True, "EPERM or EACCES", "EACCES")
    bad = only_check(evaluate(step(errno=("EPERM",)), Observed(0, "ret=0 errno=OK\n", "")))
    assert bad == Check("errno", False, "EPERM", "OK")
    silent = only_check(evaluate(step(errno=("EPERM",)), Observed(1, "Traceback: boom", "")))
    assert not silent.ok and silent.observed == "(no errno in output: Traceback: boom)"
    # The prober says on stderr why it made no call: that reaches the failure text.
    unknown = Observed(2, "", "hardlab-probe: unknown syscall 'uname' on x86_64; known: acct ...")
    said = only_check(evaluate(step(errno=("EPERM",)), unknown))
    assert said.observed == (
        "(no errno in output: (empty); stderr: hardlab-probe: unknown syscall 'uname' on x86_64; known: acct ...)"
    )


def test_errno_not() -> None:
    ok = only_check(evaluate(step(errno_not=("EPERM",)), Observed(0, "ret=0 errno=OK\n", "")))
    assert ok == Check("errno", True, "not EPERM", "OK")
    bad = only_check(evaluate(step(errno_not=("EPERM",)), Observed(0, "ret=-1 errno=EPERM\n", "")))
    assert not bad.ok and bad.observed == "EPERM"
    # No errno at all is not "some other errno": the probe did not report.
    silent = only_check(evaluate(step(errno_not=("EPERM",)), Observed(0, "", "")))
    assert not silent.ok and silent.observed.startswith("(no errno in output")


def test_oom_killed() -> None:
    ok = only_check(evaluate(step("wait", oom_killed=True), Observed(137, "", "", oom_killed=True)))
    assert ok == Check("OOM killed", True, "true", "true")
    bad = only_check(evaluate(step("wait", oom_killed=True), Observed(0, "", "", oom_killed=False)))
    assert bad == Check("OOM killed", False, "true", "false")


def test_a_timed_out_step_fails_without_judging_its_output() -> None:
    seen = Observed(None, "errno=EPERM", "", duration=3.04, timed_out=True)
    result = evaluate(step(timeout=2.5, exit_code=(0,), errno=("EPERM",)), seen)
    assert not result.ok
    assert only_check(result) == Check("finished in time", False, "within 2.5s", "still running after 3.0s; killed")


def test_skip_when() -> None:
    skip = spec.SkipWhen("not supported", "the kernel lacks the feature")
    skipped = evaluate(step(skip_when=skip, exit_code=(0,)), Observed(1, "mount: not supported\n", ""))
    assert skipped.skip_reason == "the kernel lacks the feature"
    assert skipped.checks == []
    judged = evaluate(step(skip_when=skip, exit_code=(0,)), Observed(1, "mount: denied\n", ""))
    assert judged.skip_reason == "" and not judged.ok


def test_every_expectation_is_a_check() -> None:
    exp = {
        "exit_code": (0,),
        "stdout_contains": ("a", "b"),
        "stderr_not_contains": ("x",),
        "proc_status": (("Seccomp", "2"),),
        "caps": (("CapPrm", ("@docker-default",)),),
        "errno": ("OK",),
    }
    result = evaluate(step(**exp), Observed(0, "a b errno=OK\n" + DEFAULT_STATUS, ""))
    assert result.ok
    assert len(result.checks) == 7


def test_a_status_only_step_from_a_scenario_file(load_scenario) -> None:
    body = """
    [[case]]
    id = "defaults"
    no_control_reason = "reads its own status"

    [[case.step]]
    cap_eff = ["@docker-default"]
    cap_amb = []
    proc_status = { Seccomp = 2, NoNewPrivs = "0" }
    """
    (the_step,) = load_scenario(body).cases[0].steps
    result = evaluate(the_step, Observed(0, DEFAULT_STATUS, ""))
    assert [c.what for c in result.checks] == [
        "/proc status Seccomp", "/proc status NoNewPrivs", "CapEff capabilities", "CapAmb capabilities",
    ]  # fmt: skip
    assert result.ok, result.checks


def test_output_lost_only_for_a_silent_failing_exec_whose_checks_read_output() -> None:
    # moby#27289: under load the engine can drop a short exec's output; the engine re-runs such a step once.
    from hardlab.core.expect import output_lost
    from hardlab.spec import Expectation, Step

    refused = Step("chown", "exec", ("chown", "1", "f"), None, 10.0, False,
                   Expectation(exit_code=(1,), stderr_contains=("Operation not permitted",)), None, None)  # fmt: skip
    assert output_lost(evaluate(refused, Observed(1, "", "")))
    assert not output_lost(evaluate(refused, Observed(0, "", "changed")))
    assert not output_lost(evaluate(refused, Observed(1, "", "chown: f: Operation not permitted")))  # it held
    only_exit = Step("x", "exec", ("true",), None, 10.0, False, Expectation(exit_code=(1,)), None, None)
    assert not output_lost(evaluate(only_exit, Observed(0, "", "")))
    assert not output_lost(evaluate(refused, Observed(None, "", "", timed_out=True)))
