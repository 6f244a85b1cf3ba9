"""The session's containers without an engine: who gets which shared container, when it goes, the gate."""

from __future__ import annotations

import threading
import time

import pytest

from hardlab.engine.shared import Closed, Containers, Started

pytestmark = pytest.mark.unit


class Engine:
    """Fake start/remove: containers are numbers; records what happened."""

    def __init__(self, fail: int = 0, raises: int = 0) -> None:
        self.started: list[int] = []
        self.removed: list[int] = []
        self.fail, self.raises = fail, raises
        self.lock = threading.Lock()

    def start(self) -> Started:
        with self.lock:
            if self.raises:
                self.raises -= 1
                raise RuntimeError("the engine refused to create the container")
            if self.fail:
                self.fail -= 1
                return Started(None, "OCI runtime create failed")
            self.started.append(len(self.started) + 1)
            return Started(self.started[-1])

    def remove(self, container: int) -> None:
        with self.lock:
            self.removed.append(container)


def session(engine: Engine, **expected: int) -> Containers:
    containers = Containers(engine.remove)
    for key, n in expected.items():
        for _ in range(n):
            containers.expect(key)
    return containers


def test_runs_of_one_configuration_share_one_container_removed_after_the_last_planned_run() -> None:
    engine = Engine()
    containers = session(engine, a=3, b=1)
    seen = []
    for key in ("a", "b", "a", "a"):
        with containers.lease(key, engine.start) as lease:
            seen.append((key, lease.container))
    assert seen == [("a", 1), ("b", 2), ("a", 1), ("a", 1)]
    assert sorted(engine.removed) == [1, 2]
    assert not containers.expects("a")


def test_concurrent_runs_wait_for_the_one_start() -> None:
    engine = Engine()
    slow = threading.Event()

    def start() -> Started:
        slow.wait(2)
        return engine.start()

    containers = session(engine, a=4)
    got: list[int] = []

    def run() -> None:
        with containers.lease("a", start) as lease:
            got.append(lease.container)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    slow.set()
    for t in threads:
        t.join(5)
    assert got == [1, 1, 1, 1] and engine.started == [1] and engine.removed == [1]


def test_a_timed_out_run_retires_the_container_after_the_runs_inside_it() -> None:
    engine = Engine()
    containers = session(engine, a=3)
    with containers.lease("a", engine.start) as other:  # a run in flight when the timeout happens
        with containers.lease("a", engine.start) as hung:
            hung.retire()
        assert engine.removed == []  # the other run still uses it
        assert other.container == 1
    assert engine.removed == [1]
    with containers.lease("a", engine.start) as after:
        assert after.container == 2  # replaced, never reused
    assert engine.removed == [1, 2]


def test_a_failed_start_is_the_starters_alone_and_the_next_run_tries_its_own() -> None:
    engine = Engine(fail=1)
    containers = session(engine, a=2)
    with containers.lease("a", engine.start) as first:
        assert first.container is None and first.start_error == "OCI runtime create failed"
    with containers.lease("a", engine.start) as second:
        assert second.container == 1 and second.start_error is None


def test_a_start_that_raises_propagates_and_leaves_nothing_behind() -> None:
    engine = Engine(raises=1)
    containers = session(engine, a=2)
    with pytest.raises(RuntimeError), containers.lease("a", engine.start):
        pass
    with containers.lease("a", engine.start) as lease:
        assert lease.container == 1
    assert engine.removed == [1]


def test_a_waiter_whose_starter_failed_starts_its_own() -> None:
    engine = Engine(fail=1)
    gate = threading.Event()

    def start() -> Started:
        gate.wait(2)
        return engine.start()

    containers = session(engine, a=2)
    results: dict[str, object] = {}

    def run(name: str) -> None:
        with containers.lease("a", start) as lease:
            results[name] = (lease.container, lease.start_error)

    first = threading.Thread(target=run, args=("first",))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    time.sleep(0.05)
    gate.set()
    first.join(5)
    second.join(5)
    assert results == {"first": (None, "OCI runtime create failed"), "second": (1, None)}


def test_close_removes_idle_containers_and_refuses_new_ones() -> None:
    engine = Engine()
    containers = session(engine, a=2, b=2)
    with containers.lease("a", engine.start):
        pass
    with containers.lease("b", engine.start) as busy:
        containers.close()
        assert engine.removed == [1]  # the idle one; the busy one goes when its run ends
        assert busy.container == 2
    assert sorted(engine.removed) == [1, 2]
    with pytest.raises(Closed), containers.lease("a", engine.start):
        pass
    with pytest.raises(Closed), containers.creating():
        pass


def test_close_waits_for_creates_in_flight() -> None:
    containers = Containers(lambda c: None)
    inside, release, closed = threading.Event(), threading.Event(), threading.Event()

    def create() -> None:
        with containers.creating():
            inside.set()
            release.wait(2)

    worker = threading.Thread(target=create)
    worker.start()
    inside.wait(2)
    closer = threading.Thread(target=lambda: (containers.close(), closed.set()))
    closer.start()
    time.sleep(0.1)
    assert not closed.is_set()  # a container being created now would escape the final sweep
    release.set()
    worker.join(2)
    closer.join(2)
    assert closed.is_set()


def test_unplanned_configurations_are_not_shared() -> None:
    containers = session(Engine(), a=1)
    assert containers.expects("a") and not containers.expects("b")


def test_an_unplanned_run_lets_the_container_go_early() -> None:
    engine = Engine()
    containers = session(engine, a=2)
    with containers.lease("a", engine.start):
        pass
    assert engine.removed == []  # one more run planned
    containers.unplan("a")  # its case's control failed: it will not come
    assert engine.removed == [1] and not containers.expects("a")
