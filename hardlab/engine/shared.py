"""The containers of one session: a gate that lets none start once the session ends, and the running
containers that read-only runs of one configuration share (`hardlab.core.sharing` decides which runs).

A shared container serves the runs planned for its configuration (`expect`) and is removed when the last
one is done. A step that times out in it retires it: no new run gets it, and it is killed once the runs
inside it have finished, so a hung probe never poisons another case. Nothing here caches a failure: a
container that fails to start fails the run that started it; the next run tries a container of its own.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hardlab.errors import HarnessError


class Closed(HarnessError):
    """The session is ending: no new container starts (Ctrl-C, SIGTERM, the end of the run)."""


@dataclass
class Started:
    """What starting a container gave: the container, or the engine's reason it did not start."""

    container: Any = None
    start_error: str | None = None


@dataclass
class Slot:
    key: str
    ready: threading.Event = field(default_factory=threading.Event)
    started: Started | None = None
    users: int = 0
    retired: bool = False
    removed: bool = False


class Containers:
    """The session's containers (one per pytest process). `remove` takes a container away (the caller's
    reaper); `start` makes and starts one for a key (called outside the lock, by one run at a time)."""

    def __init__(self, remove: Callable[[Any], None]) -> None:
        self._remove = remove
        self._lock = threading.Condition()
        self._creating = 0
        self._closed = False
        self._slots: dict[str, Slot] = {}
        self._expected: Counter[str] = Counter()
        self.shared_started = 0  # containers started for sharing (for the benchmark and tests)

    # --- the gate -------------------------------------------------------------------------------------
    @contextmanager
    def creating(self) -> Iterator[None]:
        """Around every container create: refused once closed, and close() waits for those in flight,
        so the run's final sweep sees every container this process made."""
        with self._lock:
            if self._closed:
                raise Closed("the session is ending: no new containers")
            self._creating += 1
        try:
            yield
        finally:
            with self._lock:
                self._creating -= 1
                self._lock.notify_all()

    def close(self, timeout: float = 30) -> None:
        """No new containers from now on; wait for creates in flight; remove every idle shared one."""
        with self._lock:
            self._closed = True
            self._lock.wait_for(lambda: self._creating == 0, timeout=timeout)
            idle = [s for s in self._slots.values() if s.users == 0]
            for slot in self._slots.values():
                slot.retired = True
            self._slots.clear()
        for slot in idle:
            self._drop(slot)

    # --- sharing --------------------------------------------------------------------------------------
    def expect(self, key: str) -> None:
        """One more run is planned for configuration `key`: runs of it share a container from now on."""
        with self._lock:
            self._expected[key] += 1

    def unplan(self, key: str) -> None:
        """A planned run of `key` will not happen (its case's control failed): the container may go sooner."""
        with self._lock:
            self._expected[key] -= 1
            slot = self._slots.get(key)
            if slot is None or self._expected[key] > 0:
                return
            del self._slots[key]
            slot.retired = True
            drop = slot.users == 0 and not slot.removed
            if drop:
                slot.removed = True
        if drop:
            self._drop(slot)

    def expects(self, key: str) -> bool:
        with self._lock:
            return self._expected[key] > 0

    @contextmanager
    def lease(self, key: str, start: Callable[[], Started]) -> Iterator[Lease]:
        """The running container of `key` for one run (starting it with `start` if none runs)."""
        slot = self._acquire(key, start)
        try:
            yield Lease(self, slot)
        finally:
            self._release(slot)

    def _acquire(self, key: str, start: Callable[[], Started]) -> Slot:
        while True:
            with self._lock:
                if self._closed:
                    raise Closed("the session is ending: no new containers")
                slot = self._slots.get(key)
                starter = slot is None
                if slot is None:
                    slot = self._slots[key] = Slot(key)
                slot.users += 1
            if starter:
                return self._start(slot, start)
            slot.ready.wait()
            if slot.started is not None and slot.started.container is not None:
                return slot
            self._release(slot, planned=False)  # its start failed: try a container of our own

    def _start(self, slot: Slot, start: Callable[[], Started]) -> Slot:
        try:
            slot.started = start()
        except BaseException:
            slot.ready.set()
            self.retire(slot)
            self._release(slot)
            raise
        slot.ready.set()
        if slot.started.container is None:
            self.retire(slot)  # the starter reports its failure; nobody else inherits it
        else:
            with self._lock:
                self.shared_started += 1
        return slot

    def _release(self, slot: Slot, planned: bool = True) -> None:
        with self._lock:
            slot.users -= 1
            if planned:
                self._expected[slot.key] -= 1
            done = self._expected[slot.key] <= 0
            if done and self._slots.get(slot.key) is slot:
                del self._slots[slot.key]
                slot.retired = True
            drop = slot.retired and slot.users == 0 and not slot.removed
            if drop:
                slot.removed = True
        if drop:
            self._drop(slot)

    def retire(self, slot: Slot) -> None:
        """No new run gets this container; it goes once the runs inside it are done."""
        with self._lock:
            slot.retired = True
            if self._slots.get(slot.key) is slot:
                del self._slots[slot.key]
            drop = slot.users == 0 and not slot.removed
            if drop:
                slot.removed = True
        if drop:
            self._drop(slot)

    def _drop(self, slot: Slot) -> None:
        slot.removed = True
        if slot.started is not None and slot.started.container is not None:
            self._remove(slot.started.container)


@dataclass
class Lease:
    """One run's use of a shared container."""

    owner: Containers
    slot: Slot

    @property
    def container(self) -> Any:
        return self.slot.started.container if self.slot.started else None

    @property
    def start_error(self) -> str | None:
        return self.slot.started.start_error if self.slot.started else None

    def retire(self) -> None:
        """A step timed out or the container died: replace it, never reuse it."""
        self.owner.retire(self.slot)
