"""Run this process's container cases ahead of pytest, a few at a time, in a bounded thread pool.

Docker calls wait on the engine, not on this process: while pytest runs one item, the pool already runs
the next cases. When the session starts, every container case this process will run (its xdist share,
or the whole session) is prepared once, which also tells the session's `Containers` how many read-only
runs each configuration will have, so they share one running container. Each item's setup then takes its
own result (or its own error) and judges it as before. A case the host cannot run (a missing feature),
a host-step case and anything that is not a plain case item are left to pytest's own thread.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

from hardlab.core.inputs import InputError, bind
from hardlab.core.rules import rule_facts
from hardlab.engine import runner
from hardlab.engine.probe import HostFacts
from hardlab.engine.shared import Containers
from hardlab.errors import HarnessError
from hardlab.pytest.state import unexpected


def eligible(item: pytest.Item, host: HostFacts) -> bool:
    """A container case whose setup phase runs it (not grading's call phase) and that the host can run."""
    case = getattr(item, "case", None)
    scenario = getattr(item, "scenario", None)
    if case is None or scenario is None or "hardlab_case_run" not in getattr(item, "fixturenames", ()):
        return False
    if case.runner != "container":
        return False
    return not host.missing(tuple(dict.fromkeys((*scenario.requires, *case.requires))))


def _failed(exc: BaseException) -> concurrent.futures.Future[Any]:
    failed: concurrent.futures.Future[Any] = concurrent.futures.Future()
    failed.set_exception(exc)
    return failed


class Prefetch:
    """Cases of one process running ahead: `take(item)` gives the item's future (None: not planned)."""

    def __init__(self, threads: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hardlab-case")
        self._futures: dict[str, concurrent.futures.Future[Any]] = {}

    def start(
        self, client: Any, host: HostFacts, items: list[pytest.Item], run_id: str, owner: str,
        given: dict[str, str], containers: Containers,
    ) -> None:  # fmt: skip
        """Prepare every eligible item (in order), plan its shared runs, then submit them all."""
        planned: list[tuple[str, Any]] = []
        for item in items:
            if not eligible(item, host):
                continue
            scenario, case = item.scenario, item.case  # type: ignore[attr-defined]
            try:
                values = bind(scenario, item.hardlab_inputs or given)  # type: ignore[attr-defined]
                facts = rule_facts(host.engine)
                prepared = runner.prepare(client, case, scenario.path.parent, run_id, owner, values, facts=facts)
            except (InputError, HarnessError) as exc:
                self._futures[item.nodeid] = _failed(exc)  # the item's setup reports it as if it had run it
                continue
            except Exception as exc:  # e.g. docker-py's ValueError for one case's options: that case's error
                self._futures[item.nodeid] = _failed(unexpected(exc))
                continue
            for run in (prepared.control, prepared.main) if not prepared.skip else ():
                if run is not None and run.spec.shareable:
                    containers.expect(run.key)
                    runner.plan_probes(run)
            planned.append((item.nodeid, prepared))
        for nodeid, prepared in planned:
            self._futures[nodeid] = self._pool.submit(runner.execute, client, prepared, containers)

    def take(self, item: pytest.Item) -> concurrent.futures.Future[Any] | None:
        return self._futures.pop(item.nodeid, None)

    def close(self) -> bool:
        """Cancel what has not started; True when some case is still running (its result unwanted)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        running = [f for f in self._futures.values() if not f.done()]
        self._futures.clear()
        return bool(running)

