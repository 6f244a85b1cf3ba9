"""Which runs share a container, what a configuration is, and how a session splits across workers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hardlab import spec
from hardlab.core import sharing
from hardlab.core.inputs import bind
from hardlab.core.sharing import Unit, configuration, partition, shareable

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]

CASES = """
[[case]]
id = "probe"
title = "syscalls and /proc reads only"
image = "lab:tools"
container = { cap_add = ["SYS_ADMIN"] }
no_control_reason = "unit"
[[case.step]]
syscall = "mount"
errno = "EPERM"
[[case.step]]
proc_status = { Seccomp = "2" }

[[case]]
id = "writes"
title = "a shell step may write"
no_control_reason = "unit"
[[case.step]]
shell = "touch /tmp/x"
exit_code = 0

[[case]]
id = "execs"
title = "an exec step is not known to be read-only"
image = "lab:tools"
no_control_reason = "unit"
[[case.step]]
exec = ["getpcaps", "1"]
exit_code = 0

[[case]]
id = "waits"
title = "its own main process"
container = { command = ["true"] }
no_control_reason = "unit"
[[case.step]]
wait = true
exit_code = 0

[[case]]
id = "fails-to-start"
title = "start_error"
container = { devices = ["/dev/nonexistent-hardlab"] }
start_error = ["no such file"]
no_control_reason = "unit"

[[case]]
id = "own-entrypoint"
title = "an entrypoint runs first"
image = "lab:tools"
container = { entrypoint = ["/bin/sh", "-c", "exec \\"$@\\"", "x"] }
no_control_reason = "unit"
[[case.step]]
syscall = "mount"
errno = "EPERM"

[[case]]
id = "with-control"
title = "a control run of its own"
image = "lab:tools"
[[case.step]]
syscall = "mount"
errno = "EPERM"
[case.control]
container = { security_opt = ["seccomp=unconfined"], cap_add = ["SYS_ADMIN"] }
[[case.control.step]]
name = "control"
shell = "echo mutating control"
exit_code = 0
"""


@pytest.fixture
def cases(load_scenario) -> dict[str, spec.Case]:
    return {c.id: c for c in load_scenario(CASES).cases}


def runs(case: spec.Case) -> tuple[sharing.RunSpec | None, sharing.RunSpec]:
    return sharing.case_runs(case, {})


def test_only_probes_and_proc_reads_are_read_only(cases) -> None:
    assert [sharing.read_only(s) for s in cases["probe"].steps] == [True, True]
    for name in ("writes", "execs", "waits"):
        assert not any(sharing.read_only(s) for s in cases[name].steps), name


def test_a_run_shares_only_when_every_step_is_read_only_and_it_has_no_process_of_its_own(cases) -> None:
    assert runs(cases["probe"])[1].shareable
    for name in ("writes", "execs", "waits", "fails-to-start", "own-entrypoint"):
        assert not runs(cases[name])[1].shareable, name
    control, main = runs(cases["with-control"])
    assert main.shareable and control is not None and not control.shareable


def test_shareable_refuses_a_command_even_with_read_only_steps(cases) -> None:
    steps = cases["probe"].steps
    assert shareable(steps, (), {})
    assert not shareable(steps, (), {"command": ["sleep", "1"]})
    assert not shareable(steps, ("boom",), {})
    assert not shareable((), (), {})


def test_case_runs_merge_defaults_case_and_control_options(cases) -> None:
    control, main = runs(cases["with-control"])
    assert main.options == spec.DEFAULT_LIMITS
    assert control is not None
    want = {**spec.DEFAULT_LIMITS, "security_opt": ["seccomp=unconfined"], "cap_add": ["SYS_ADMIN"]}
    assert control.options == want
    assert (control.role, main.role) == ("control", "case")


def test_empty_values_mean_absent_keys() -> None:
    base = configuration("img", {"mem_limit": "256m"})
    for empty in ({"cap_add": []}, {"security_opt": []}, {"environment": {}}, {"user": ""}, {"read_only": False},
                  {"privileged": False}, {"hostname": None}):  # fmt: skip
        assert configuration("img", {"mem_limit": "256m", **empty}) == base, empty


def test_capabilities_and_security_options_compare_as_sets() -> None:
    a = configuration("i", {"cap_add": ["SYS_ADMIN", "net_raw"], "security_opt": ["no-new-privileges", "seccomp=x"]})
    opts = {"cap_add": ["CAP_NET_RAW", "SYS_ADMIN"], "security_opt": ["seccomp=x", "no-new-privileges"]}
    b = configuration("i", opts)
    assert a == b


def test_any_real_difference_is_another_configuration() -> None:
    base = {"mem_limit": "256m", "pids_limit": 512}
    seen = {
        configuration("img", base),
        configuration("other", base),
        configuration("img", {**base, "pids_limit": 64}),
        configuration("img", {**base, "read_only": True}),
        configuration("img", {**base, "cap_drop": ["ALL"]}),
        configuration("img", {**base, "security_opt": ["seccomp={\"defaultAction\": \"SCMP_ACT_ERRNO\"}"]}),
        configuration("img", {**base, "user": "1000"}),
        configuration("img", {**base, "init": False}),  # the engine's default may be init = true
    }
    assert len(seen) == 8


def test_units_key_only_shareable_runs_and_host_labs(cases, load_scenario) -> None:
    probe = sharing.unit(cases["probe"], {})
    assert probe.background and len(probe.keys) == 1
    assert sharing.unit(cases["writes"], {}).keys == ()
    with_control = sharing.unit(cases["with-control"], {})
    assert len(with_control.keys) == 1 and with_control.cost > probe.cost  # its control starts a container
    host = load_scenario("""
        [[case]]
        id = "push"
        title = "host steps"
        runner = "host"
        uses = ["trust-lab"]
        [[case.step]]
        cli = ["docker", "version"]
        exit_code = 0
        control = true
    """).cases[0]
    unit = sharing.unit(host, {})
    assert unit.keys == ("lab:trust-lab",) and not unit.background


def test_partition_keeps_a_shared_configuration_on_one_worker() -> None:
    units = [Unit(("a",), 1.0, True), Unit(("b",), 1.0, True), Unit(("a",), 1.0, True), Unit(("b",), 1.0, True),
             Unit((), 1.0, True), Unit((), 1.0, True)]  # fmt: skip
    shares = partition(units, 2)
    assert sorted(i for s in shares for i in s) == list(range(6))
    where = {i: n for n, s in enumerate(shares) for i in s}
    assert where[0] == where[2] and where[1] == where[3]
    assert [len(s) for s in shares] == [3, 3]


def test_partition_splits_a_configuration_too_big_for_one_worker() -> None:
    units = [Unit(("hub",), 1.0, True) for _ in range(10)]
    shares = partition(units, 2)
    assert [len(s) for s in shares] == [5, 5]


def test_partition_balances_by_cost_heaviest_first() -> None:
    units = [Unit((), 5.0, False), Unit((), 1.0, True), Unit((), 1.0, True), Unit((), 1.0, True), Unit((), 2.0, True)]
    shares = partition(units, 2)
    loads = sorted(sum(units[i].cost for i in s) for s in shares)
    assert loads == [5.0, 5.0]


def test_partition_puts_pytest_thread_work_first_then_collection_order() -> None:
    units = [Unit((), 1.0, True), Unit((), 1.0, False), Unit((), 1.0, True), Unit((), 1.0, False)]
    assert partition(units, 1) == [[1, 3, 0, 2]]
    for share in partition(units, 2):
        foreground = [i for i in share if not units[i].background]
        assert share[: len(foreground)] == sorted(foreground)


def test_partition_is_deterministic_and_total() -> None:
    units = [Unit((f"k{i % 7}",), 0.1 * (i % 5 + 1), i % 3 != 0) for i in range(60)]
    first = partition(units, 3)
    assert first == partition(list(units), 3)
    assert sorted(i for s in first for i in s) == list(range(60))


def test_the_packs_syscall_table_shares_a_handful_of_containers() -> None:
    """The blocked-syscall table: a run of `syscall` steps only is shareable, so its ~100 runs need one
    container per configuration (the default one for every case run, one per gating capability for the
    controls); a run with an exec step (the AF_VSOCK case's AF_INET control step) gets its own."""
    scenario = spec.load(ROOT / "scenarios" / "seccomp" / "blocked-syscalls.toml", root=ROOT)
    values = bind(scenario, {})
    keys: Counter[str] = Counter()
    for case in scenario.cases:
        for run in sharing.case_runs(case, values):
            assert run is not None
            probes_only = all(s.argv[:1] == (spec.PROBE,) for s in run.steps)
            assert run.shareable == probes_only, case.id
            if run.shareable:
                keys[configuration(run.image, run.options)] += 1
    assert sum(keys.values()) >= 2 * len(scenario.cases) - 4  # the AF_VSOCK case's two ABIs run an exec step
    assert len(keys) <= 14
    assert keys.most_common(1)[0][1] >= len(scenario.cases) - 2  # the case runs: the default container (AF_VSOCK: own)


def test_partition_spreads_pytest_thread_work_before_the_pools() -> None:
    """Two serial chains (a content-trust lab's cases, the scans) go to different workers even when the
    pool's work would balance the totals otherwise: a serial chain cannot be sped up by the pool."""
    units = [Unit(("lab",), 2.0, False), Unit(("lab",), 2.0, False), Unit((), 3.0, False),
             Unit(("big",), 1.0, True), Unit(("big",), 1.0, True), *[Unit((), 2.0, True)] * 6]  # fmt: skip
    shares = partition(units, 2)
    where = {i: n for n, s in enumerate(shares) for i in s}
    assert where[0] == where[1] != where[2]
    assert where[3] == where[4] == where[2]  # the pool's work fills the worker with the shorter chain first
    assert sorted(sum(units[i].cost for i in s) for s in shares) == [10.0, 11.0]
