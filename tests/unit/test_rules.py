"""Engine-dependent expectations: `when` rules parsed with file/line/key, and decided by engine facts."""

from __future__ import annotations

import pytest

from hardlab.core.rules import holds, resolve_case, resolve_step, rule_facts
from hardlab.spec import ScenarioError, parse_range, version_tuple

pytestmark = pytest.mark.unit

RULED = """
[[case]]
id = "${syscall}"
title = "${syscall} from a default container"
image = "lab:tools"
no_control_reason = "unit"
parametrize = [{ syscall = "acct" }, { syscall = "process_vm_readv" }]

[[case.step]]
syscall = "${syscall}"
errno = ["EPERM", "ENOSYS"]

[[case.step.when]]
cases = ["process_vm_readv"]
engine = ">=23.0"
kernel = ">=4.8"
errno_not = ["EPERM", "ENOSYS"]
reference = "moby#42083: allowed on kernels >= 4.8 since 23.0"

[[case.step.when]]
runtime = ["crun", "youki"]
skip = "not measured with this runtime"
reference = "crun#867"
"""


def test_version_ranges() -> None:
    assert version_tuple("26.1.5+dfsg1") == (26, 1, 5) and version_tuple("6.18.44-fc-v1045") == (6, 18, 44)
    assert parse_range(">=23.0").contains((26, 1, 5)) and not parse_range(">=23.0").contains((20, 10, 24))
    band = parse_range(">=20.10.25, <21")
    assert band.contains((20, 10, 25)) and not band.contains((21,)) and not band.contains((20, 10, 24))
    with pytest.raises(ValueError, match="not a version range"):
        parse_range("newer than 23")
    assert holds("runtime", "crun|youki", "crun") and not holds("runtime", "crun", "runc")
    assert holds("rootless", "false", False) and holds("cgroup", "2", "2") and not holds("cgroup", "2", "1")


def test_rules_apply_to_the_rows_they_name(load_scenario) -> None:
    acct, pvm = load_scenario(RULED).cases
    assert [len(s.when) for s in acct.steps] == [1]  # only the runtime rule: the engine rule names one row
    assert [len(s.when) for s in pvm.steps] == [2]
    assert pvm.steps[0].when[0].line == 18  # the [[case.step.when]] header (after the 5-line HEADER)


def test_the_first_matching_rule_decides_and_says_why(load_scenario) -> None:
    pvm = load_scenario(RULED).cases[1]
    new = {"engine": "26.1.5", "kernel": "6.18.44", "runtime": "runc"}
    step, skip = resolve_step(pvm.steps[0], new)
    assert skip == ""
    # errno and errno_not are one expectation: the rule's errno_not replaces the step's errno
    assert step.expect.errno == () and step.expect.errno_not == ("EPERM", "ENOSYS")
    assert step.decided == (
        "engine 26.1.5 meets >=23.0, kernel 6.18.44 meets >=4.8: moby#42083: allowed on kernels >= 4.8 since 23.0",
    )
    old = {"engine": "20.10.24+dfsg1", "kernel": "6.18.44", "runtime": "runc"}
    step, skip = resolve_step(pvm.steps[0], old)
    assert skip == "" and step.expect.errno == ("EPERM", "ENOSYS") and step.expect.errno_not == ()
    assert step.decided[0].startswith("engine 20.10.24+dfsg1 does not meet >=23.0, kernel 6.18.44 meets >=4.8")
    assert step.decided[-1] == "so the step's own expectation holds"


def test_a_skip_rule_and_an_unknown_fact_skip_the_case_naming_why(load_scenario) -> None:
    acct = load_scenario(RULED).cases[0]
    _, skip = resolve_case(acct, {"engine": "26.1.5", "kernel": "6.1", "runtime": "crun"})
    assert skip.startswith("not measured with this runtime (runtime crun meets crun or youki; crun#867)")
    _, skip = resolve_case(acct, {"engine": "26.1.5"})
    assert "depends on runtime (the engine's default OCI runtime" in skip and "could not tell" in skip
    unchanged, skip = resolve_case(acct, {"engine": "26.1.5", "runtime": "runc"})
    assert skip == "" and unchanged.steps[0].expect == acct.steps[0].expect


def test_rule_facts_come_from_the_probe() -> None:
    engine = {"server_version": "26.1.5", "kernel_version": "6.1.0", "cgroup_version": "2", "rootless": False}
    facts = rule_facts(engine, {"runtime": "runc"})
    assert facts == {"engine": "26.1.5", "runtime": "runc", "runtime_version": None, "kernel": "6.1.0",
                     "cgroup": "2", "rootless": False, "engine_caps": None}  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('engine = ">=23"\nerrno = "OK"', "when[0].reference: is required"),
        ('engine = "newest"\nerrno = "OK"\nreference = "x"', "when[0].engine: 'newest' is not a version range"),
        ('errno = "OK"\nreference = "x"', "when[0]: a rule needs at least one engine fact to test"),
        ('engine = ">=23"\nreference = "x"', "when[0]: a rule either replaces expectation keys"),
        ('engine = ">=23"\nerrno = "OK"\nskip = "s"\nreference = "x"', "a rule either replaces expectation keys"),
        ('kernal = ">=4"\nerrno = "OK"\nreference = "x"', "when[0].kernal: unknown key (did you mean 'kernel'?)"),
        ('rootless = "yes"\nerrno = "OK"\nreference = "x"', "when[0].rootless: expected true/false"),
        ('engine = ">=23"\nerrno = "EPRM"\nreference = "x"', "when[0].errno: unknown errno name 'EPRM'"),
        ('engine = ">=23"\nerrno = "OK"\nreference = "x"\ncases = ["nope"]', "when.cases: no case 'nope'"),
    ],
)
def test_bad_rules_are_reported_with_file_line_and_key(load_scenario, rule: str, message: str) -> None:
    body = f"""
[[case]]
id = "c"
title = "t"
image = "lab:tools"
no_control_reason = "unit"

[[case.step]]
syscall = "acct"
errno = "EPERM"

[[case.step.when]]
{rule}
"""
    with pytest.raises(ScenarioError) as err:
        load_scenario(body)
    assert message in str(err.value)
    assert "scenario.toml:" in str(err.value)


def test_a_slow_host_stretches_every_step_timeout_and_says_so(load_scenario, monkeypatch) -> None:
    from hardlab import config
    from hardlab.core.rules import stretch_timeouts

    case = load_scenario(RULED).cases[0]
    assert stretch_timeouts(case, 1) is case
    slow = stretch_timeouts(case, 4)
    assert [s.timeout for s in slow.steps] == [4 * s.timeout for s in case.steps]
    monkeypatch.setenv("HARDLAB_TIMEOUT_SCALE", "4")
    assert config.timeout_scale() == 4
    for bad in ("fast", "0.5", "1000"):
        monkeypatch.setenv("HARDLAB_TIMEOUT_SCALE", bad)
        with pytest.raises(ValueError, match="HARDLAB_TIMEOUT_SCALE"):
            config.timeout_scale()
