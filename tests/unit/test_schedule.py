"""PlannedScheduling does what it claims: each xdist worker gets its whole share of a scenario session at
once, split by configuration, exactly the share the worker computes for itself; anything else keeps
xdist's load scheduling; a crashed worker's leftovers go to its replacement. No engine, no workers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hardlab import spec
from hardlab.core import sharing
from hardlab.pytest import schedule

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PYTHON_ITEMS = ["scenarios/host/test_host.py::test_kernel_has_seccomp[local]", "scenarios/apparmor/test_profiles.py::t"]


class Config:
    """What the scheduler and the planner read of a pytest config."""

    def __init__(self, workers: int = 2, dist: str = "load", workerinput: dict[str, Any] | None = None) -> None:
        self.option = SimpleNamespace(dist=dist)
        self.rootpath = ROOT
        self.workers = workers
        if workerinput is not None:
            self.workerinput = workerinput

    def getvalue(self, name: str) -> Any:
        return {"tx": [f"{self.workers}*popen"]}[name]

    def getoption(self, name: str, default: Any = None) -> Any:
        return {"maxschedchunk": None, "hardlab_input": []}.get(name, default)

    def getini(self, name: str) -> Any:
        return {"hardlab_dirs": ["scenarios"]}[name]


class Node:
    def __init__(self, number: int) -> None:
        self.gateway = SimpleNamespace(id=f"gw{number}")
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def send_runtest_all(self) -> None:  # pragma: no cover - not used by load scheduling
        raise AssertionError

    def shutdown(self) -> None:
        self.shutting_down = True


def pack() -> tuple[list[str], dict[str, tuple[spec.Scenario, spec.Case]]]:
    nodeids, found = list(PYTHON_ITEMS), {}
    for path in sorted((ROOT / "scenarios").rglob("*.toml")):
        scenario = spec.load(path, root=ROOT)
        for case in scenario.cases:
            nodeid = f"{path.relative_to(ROOT)}::{case.id}"
            nodeids.append(nodeid)
            found[nodeid] = (scenario, case)
    return nodeids, found


def scheduler(nodeids: list[str], workers: int = 2, dist: str = "load") -> tuple[Any, list[Node]]:
    sched = schedule.make_scheduler(Config(workers, dist), None)
    nodes = [Node(n) for n in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in reversed(nodes):  # collections may arrive in any order
        sched.add_node_collection(node, nodeids)
    sched.schedule()
    return sched, nodes


def test_each_worker_gets_its_whole_share_at_once() -> None:
    nodeids, _ = pack()
    sched, nodes = scheduler(nodeids)
    assert sorted(i for n in nodes for i in n.sent) == list(range(len(nodeids)))
    assert all(n.sent and n.shutting_down for n in nodes)  # everything sent: xdist can stop after it
    assert not sched.pending
    for node in nodes:
        for index in list(node.sent):
            sched.mark_test_complete(node, index)
    assert sched.tests_finished


def test_a_shared_configuration_is_not_split_and_the_lab_stays_on_one_worker() -> None:
    nodeids, _ = pack()
    _, nodes = scheduler(nodeids)
    units = schedule.units(Config(), nodeids, schedule.file_lookup(ROOT))
    owners: dict[str, set[str]] = {}
    for node in nodes:
        for index in node.sent:
            for key in units[index].keys:
                owners.setdefault(key, set()).add(node.gateway.id)
    assert owners, "the pack has shared configurations"
    # A configuration heavier than half a worker's share (the syscall table's default one, on two ABIs) is
    # split on purpose: each worker starts its own container for it. Every other one stays on one worker.
    total = sum(u.cost for u in units)
    weight: dict[str, float] = {}
    for unit in units:
        for key in unit.keys:
            weight[key] = weight.get(key, 0.0) + unit.cost
    hubs = {k for k, w in weight.items() if w > total / 2 / 2}
    assert all(len(o) == 1 for k, o in owners.items() if k not in hubs), owners
    assert len(hubs) <= 2
    assert len(owners["lab:trust-lab"]) == 1


def test_the_worker_computes_the_share_the_controller_sent_it() -> None:
    nodeids, found = pack()
    _, nodes = scheduler(nodeids)
    items = [SimpleNamespace(nodeid=n, scenario=found[n][0], case=found[n][1]) if n in found
             else SimpleNamespace(nodeid=n) for n in nodeids]  # fmt: skip
    for node in nodes:
        worker = Config(workerinput={"workerid": node.gateway.id, "workercount": 2, "hardlab_planned": True})
        mine = schedule.my_share(worker, items)  # type: ignore[arg-type]
        assert [item.nodeid for item in mine] == [nodeids[i] for i in node.sent]


def test_pytest_thread_items_come_first_in_each_share() -> None:
    nodeids, _ = pack()
    _, nodes = scheduler(nodeids)
    units = schedule.units(Config(), nodeids, schedule.file_lookup(ROOT))
    for node in nodes:
        flags = [units[i].background for i in node.sent]
        assert flags == sorted(flags), node.gateway.id  # False (pytest's thread) before True (the pool)


def test_other_sessions_keep_load_scheduling() -> None:
    nodeids = [f"tests/unit/test_x.py::test_{n}" for n in range(40)]
    sched, nodes = scheduler(nodeids)
    sent = [len(n.sent) for n in nodes]
    assert 0 < sum(sent) < 40 and sched.pending  # chunks, the rest handed out as workers finish
    assert not schedule.applies(Config(), nodeids)
    assert not schedule.applies(Config(dist="loadfile"), pack()[0])
    worker = Config(workerinput={"workerid": "gw0", "workercount": 2, "hardlab_planned": False})
    assert schedule.my_share(worker, [SimpleNamespace(nodeid=n) for n in pack()[0]]) == []  # type: ignore[arg-type]


def test_a_crashed_workers_leftovers_go_to_its_replacement() -> None:
    nodeids, _ = pack()
    sched, nodes = scheduler(nodeids)
    dead = nodes[0]
    done = dead.sent[:3]
    for index in done:
        sched.mark_test_complete(dead, index)
    crashed = sched.remove_node(dead)
    assert crashed == nodeids[dead.sent[3]]
    replacement = Node(2)
    sched.add_node(replacement)
    sched.add_node_collection(replacement, nodeids)
    sched.schedule()
    while sched.pending or sched.node2pending[replacement]:  # as it finishes, it gets the rest
        sched.mark_test_complete(replacement, sched.node2pending[replacement][0])
    assert sorted(replacement.sent) == sorted(dead.sent[4:])


def test_a_lone_process_runs_everything_in_the_planned_order() -> None:
    nodeids, _ = pack()
    items = [SimpleNamespace(nodeid=n) for n in nodeids]
    assert schedule.my_share(Config(), items) == items  # type: ignore[arg-type]
    assert len(sharing.partition([sharing.Unit()] * 3, 1)[0]) == 3
