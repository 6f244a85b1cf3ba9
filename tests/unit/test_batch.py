"""Probe batching (engine/batch.py) with a fake exec: what goes in one exec, and what comes back as None
(then the caller runs the probe on its own). The real prober and engine are in tests/e2e/test_sharing.py."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from hardlab.engine import batch

pytestmark = pytest.mark.unit
PROBE = "/usr/local/bin/hardlab-probe"


class FakeExec:
    """Answers `--each` like the prober: probe NAME prints `syscall=NAME`; `lost` and `dies` are lost."""

    def __init__(self, gate: threading.Event | None = None, each: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.gate = gate
        self.each = each

    def __call__(self, client: Any, cid: str, argv: list[str], user: str | None) -> tuple[int | None, str, str, str]:
        self.calls.append(argv)
        if self.gate is not None:
            self.gate.wait(5)
        if not self.each:
            return 2, "", "hardlab-probe: unknown syscall '--each'", ""
        lines = []
        for i, entry in enumerate(json.loads(argv[2])):
            name = entry["argv"][-1]
            if name in ("lost", "dies"):
                lines.append(json.dumps({"i": i, "lost": "signal 31"}))
            else:
                lines.append(json.dumps({"i": i, "code": 0, "out": f"syscall={name}\n", "err": "", "seconds": 0.01}))
        return 0, "\n".join(lines) + "\n", "", ""


def test_only_prober_calls_are_batchable() -> None:
    assert batch.batchable([PROBE, "mount"], PROBE) and batch.batchable([PROBE, "--abi", "i386", "mount"], PROBE)
    assert not batch.batchable(["/bin/sh", "-c", "id"], PROBE)
    assert not batch.batchable([PROBE, "--each", "[]"], PROBE) and not batch.batchable([PROBE], PROBE)
    assert not batch.batchable([PROBE, "mount"], PROBE, timeout=0.5)  # its timing is judged: runs alone


def test_a_short_timeout_is_never_planned_nor_queued() -> None:
    fake = FakeExec()
    batches = batch.Batches(fake, PROBE)
    batches.plan("k", [PROBE, "getpid"], None, 0.001)
    batches.preload(None, "k", "c1")
    assert batches.take("c1", [PROBE, "getpid"], None, 0.001) is None
    assert batches.submit(None, "c1", [PROBE, "getpid"], None, 0.001) is None and fake.calls == []


def test_parse_keeps_each_answer_in_place_and_lost_or_garbled_lines_are_none() -> None:
    out = "\n".join([
        json.dumps({"i": 1, "code": 0, "out": "b", "err": "", "seconds": 0.1}),
        json.dumps({"i": 0, "lost": "timeout"}),
        "not json",
        json.dumps({"i": 7, "code": 0, "out": "x", "err": "", "seconds": 0}),  # out of range
    ])  # fmt: skip
    answers = batch.parse(out, 3)
    assert answers[0] is None and answers[2] is None
    assert answers[1] == batch.Answer(0, "b", "", 0.1)


def test_preloaded_answers_are_one_per_planned_step_never_shared() -> None:
    fake = FakeExec()
    batches = batch.Batches(fake, PROBE)
    for _ in range(2):
        batches.plan("k", [PROBE, "mount"], None, 10)
    batches.plan("k", [PROBE, "lost"], None, 10)
    batches.plan("k", ["/bin/sh", "-c", "id"], None, 10)  # not a probe: never planned
    batches.preload(None, "k", "c1")
    first, second = batches.take("c1", [PROBE, "mount"], None, 10), batches.take("c1", [PROBE, "mount"], None, 10)
    assert first is not None and second is not None and first.out == "syscall=mount\n"
    assert batches.take("c1", [PROBE, "mount"], None, 10) is None  # two planned, two answers: a third runs alone
    assert batches.take("c1", [PROBE, "lost"], None, 10) is None  # lost in the batch: runs alone
    assert batches.take("c2", [PROBE, "mount"], None, 10) is None  # another container: nothing preloaded
    assert len(fake.calls) == 1 and json.loads(fake.calls[0][2])[0] == {"argv": ["mount"], "timeout": 10}


def test_preload_splits_into_execs_of_at_most_limit_probes() -> None:
    fake = FakeExec()
    batches = batch.Batches(fake, PROBE)
    for n in range(batch.LIMIT + 5):
        batches.plan("k", [PROBE, f"p{n}"], None, 10)
    batches.preload(None, "k", "c1")
    assert all(batches.take("c1", [PROBE, f"p{n}"], None, 10) is not None for n in range(batch.LIMIT + 5))
    assert sorted(len(json.loads(c[2])) for c in fake.calls) == [5, batch.LIMIT]


def test_probes_queued_behind_an_exec_in_flight_go_together() -> None:
    gate = threading.Event()
    fake = FakeExec(gate)
    batches = batch.Batches(fake, PROBE)
    first = batches.submit(None, "c1", [PROBE, "a"], None, 10)
    while not fake.calls:  # the first exec is in flight (held at the gate)
        threading.Event().wait(0.01)
    queued = [batches.submit(None, "c1", [PROBE, name], None, 10) for name in ("b", "c", "dies")]
    gate.set()
    assert first is not None and first.result(5) is not None
    answers = [f.result(5) if f is not None else "unbatched" for f in queued]
    assert [a.out if isinstance(a, batch.Answer) else a for a in answers[:2]] == ["syscall=b\n", "syscall=c\n"]
    assert answers[2] is None  # its process died in the batch: the caller runs it on its own
    assert [len(json.loads(c[2])) for c in fake.calls] == [1, 3]


def test_a_prober_without_each_is_remembered_and_never_batched_again() -> None:
    fake = FakeExec(each=False)
    batches = batch.Batches(fake, PROBE)
    future = batches.submit(None, "c1", [PROBE, "a"], None, 10)
    assert future is not None and future.result(5) is None
    assert batches.submit(None, "c1", [PROBE, "b"], None, 10) is None
    assert len(fake.calls) == 1


def test_a_short_timeout_never_takes_an_answer_planned_for_another_step() -> None:
    batches = batch.Batches(FakeExec(), PROBE)
    batches.plan("k", [PROBE, "getpid"], None, 10)
    batches.preload(None, "k", "c1")
    assert batches.take("c1", [PROBE, "getpid"], None, 0.001) is None  # same argv, but its timing is judged
    assert batches.take("c1", [PROBE, "getpid"], None, 10) is not None
