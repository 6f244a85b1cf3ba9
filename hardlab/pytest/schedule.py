"""Which items each xdist worker runs: cases that share a container configuration go to one worker.

xdist's `--dist load` hands items out in small chunks as workers finish, so a configuration shared by
fifty cases ends up split across every worker, and no worker knows its items ahead of time. For a session
of scenario files (every item in `hardlab_dirs` or a TOML file) `PlannedScheduling` sends each worker its
whole share at once, as `hardlab.core.sharing.partition` splits the collection; each worker computes the
same split (`my_share`) to run its share ahead in its thread pool. Any other session (the project's own
tests, grading) keeps xdist's load scheduling.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from hardlab import spec
from hardlab.core import sharing
from hardlab.core.inputs import InputError, bind

Lookup = Callable[[str], "tuple[spec.Scenario, spec.Case] | None"]


def planned(config: pytest.Config) -> bool:
    """Whether xdist runs in its default mode (`--dist load`, which `-n` implies): asked on the controller,
    told to each worker (whose own option says "no")."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return bool(workerinput.get("hardlab_planned"))
    return getattr(config.option, "dist", "no") == "load"


def applies(config: pytest.Config, nodeids: Sequence[str]) -> bool:
    """Whether this session is split by configuration: xdist's default mode and only scenario items."""
    if not planned(config) or not nodeids:
        return False
    dirs = set(config.getini("hardlab_dirs"))
    for nodeid in nodeids:
        path = nodeid.split("::")[0]
        if not (path.endswith(".toml") or any(part in dirs for part in Path(path).parts[:-1])):
            return False
    return True


def units(config: pytest.Config, nodeids: Sequence[str], lookup: Lookup) -> list[sharing.Unit]:
    """The planner's view of every item; `lookup` gives a nodeid's scenario and case (None: not a case)."""
    from hardlab.pytest.fixtures import overrides

    given = overrides(config)
    bound: dict[Path, dict[str, Any] | None] = {}
    out = []
    for nodeid in nodeids:
        found = lookup(nodeid)
        if found is None:
            out.append(sharing.Unit())
            continue
        scenario, case = found
        if scenario.path not in bound:
            try:
                bound[scenario.path] = bind(scenario, given)
            except InputError:
                bound[scenario.path] = None
        values = bound[scenario.path]
        try:
            out.append(sharing.unit(case, values) if values is not None else sharing.Unit(background=True))
        except InputError:
            out.append(sharing.Unit(background=True))
    return out


def file_lookup(root: Path) -> Lookup:
    """Scenario and case of a nodeid, read from its TOML file (the xdist controller collects nothing)."""

    @functools.cache
    def load(path: str) -> spec.Scenario | None:
        try:
            return spec.load(root / path, root=root)
        except Exception:  # a bad file (or a loader bug) is the worker's to report: it collects the file
            return None

    def lookup(nodeid: str) -> tuple[spec.Scenario, spec.Case] | None:
        path, _, name = nodeid.partition("::")
        scenario = load(path) if path.endswith(".toml") else None
        case = next((c for c in scenario.cases if c.id == name), None) if scenario else None
        return (scenario, case) if scenario is not None and case is not None else None

    return lookup


def my_share(config: pytest.Config, items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """The items this process will run, in the order it runs them: all of them without xdist; under
    PlannedScheduling the worker's share, computed as the controller did. (A worker started to replace a
    dead one gets the dead one's leftovers: it runs them without planning.)"""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return list(items)
    nodeids = [item.nodeid for item in items]
    if not applies(config, nodeids):
        return []
    index, count = int(str(workerinput["workerid"]).removeprefix("gw")), int(workerinput["workercount"])
    if index >= count:
        return []
    by_id = {item.nodeid: item for item in items}

    def lookup(nodeid: str) -> tuple[spec.Scenario, spec.Case] | None:
        item = by_id[nodeid]
        case = getattr(item, "case", None)
        return (item.scenario, case) if isinstance(case, spec.Case) else None  # type: ignore[attr-defined]

    share = sharing.partition(units(config, nodeids, lookup), count)[index]
    return [items[i] for i in share]


def _number(node: Any) -> int:
    return int(str(node.gateway.id).removeprefix("gw"))


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """PlannedScheduling, a LoadScheduling that splits a scenario session by configuration up front."""
    from xdist.scheduler import LoadScheduling  # type: ignore[import-untyped]

    class PlannedScheduling(LoadScheduling):
        """Sends each worker its share of a scenario session at once (then it works like LoadScheduling:
        a crashed worker's leftovers go to its replacement)."""

        collection: list[str] | None
        maxschedchunk: int | None

        def schedule(self) -> None:
            collection: list[str] = next(iter(self.node2collection.values()), [])
            if self.collection is not None or not applies(self.config, collection):
                super().schedule()
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(collection)
            if self.maxschedchunk is None:  # as LoadScheduling does: a crashed worker's leftovers in one chunk
                self.maxschedchunk = len(collection)
            count = self.numnodes
            shares = sharing.partition(units(self.config, collection, file_lookup(self.config.rootpath)), count)
            nodes = sorted(self.nodes, key=_number)
            # Worker gwN computes share N for itself; a share whose worker died before the start goes to
            # the last worker, which runs it without planning.
            given = {_number(n): n for n in nodes if _number(n) < count}
            orphans = [i for n, share in enumerate(shares) if n not in given for i in share]
            for node in nodes:
                share = shares[_number(node)] if _number(node) in given else []
                if node is nodes[-1]:
                    share = share + orphans
                if share:
                    self.node2pending[node].extend(share)
                    node.send_runtest_some(share)
                node.shutdown()

    return PlannedScheduling(config, log)
