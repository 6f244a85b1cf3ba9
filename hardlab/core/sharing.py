"""Which runs may share one running container, and how a session's cases split across workers. Pure.

A run (a case's container, or its control's) may use a container that other runs of the same
configuration use too when nothing it does can change that container: every step is the prober
(`syscall` steps: harmless arguments by design, see hardlab-probe's docstring) or the read of
/proc/1/status. A `wait` step, a `start_error`, a `command` or `entrypoint` of its own, or any
`shell`/`exec` step makes the run need a container of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hardlab.core.inputs import container_for, steps_for
from hardlab.spec import DEFAULT_LIMITS, PROBE, PROC_STATUS_ARGV, Case, Step, substitute

# Options that give the container a main process of the scenario's own: it may write to the container.
OWN_PROCESS = ("command", "entrypoint")
# false means what leaving the key out means (the engine's default) for these.
FALSE_IS_DEFAULT = ("read_only", "privileged", "oom_kill_disable")
CAPABILITY_LISTS = ("cap_add", "cap_drop")

# Rough engine seconds, for balancing workers only (measured on a 2-core machine): a container's
# create + start + removal, one exec into a running container, one host step (docker CLI, a scan).
START_S = 0.3
EXEC_S = 0.08
HOST_STEP_S = 0.6
OWN_LAB_S = 2.0  # a content-trust lab started for one case


@dataclass(frozen=True)
class RunSpec:
    """One container a case needs: its control's (`role` "control") or its own ("case"), with the
    scenario's options (DEFAULT_LIMITS under the case's, the control's overrides on top) and inputs bound."""

    role: str
    image: str
    options: dict[str, Any]
    steps: tuple[Step, ...]
    start_error: tuple[str, ...] = ()

    @property
    def shareable(self) -> bool:
        return shareable(self.steps, self.start_error, self.options)


def case_runs(case: Case, values: Mapping[str, Any]) -> tuple[RunSpec | None, RunSpec]:
    """(control run or None, case run) of a container case. Raises InputError for an unusable input."""
    image = substitute(case.image, values)
    options = {**DEFAULT_LIMITS, **container_for(case, values)}
    main = RunSpec("case", image, options, steps_for(case.steps, values), case.start_error)
    if case.control is None:
        return None, main
    control_options = {**options, **substitute(dict(case.control.container), values)}
    return RunSpec("control", image, control_options, steps_for(case.control.steps, values)), main


def read_only(step: Step) -> bool:
    """Whether `step` cannot change its container by construction."""
    if step.kind != "exec" or step.host is not None:
        return False
    return step.argv == PROC_STATUS_ARGV or step.argv[:1] == (PROBE,)


def shareable(steps: Sequence[Step], start_error: Sequence[str], options: Mapping[str, Any]) -> bool:
    """Whether a run of `steps` in a container of `options` may use a container other runs use too."""
    if not steps or start_error:
        return False
    if options.get("command") or "entrypoint" in options:
        return False
    return all(read_only(s) for s in steps)


def configuration(image: str, options: Mapping[str, Any]) -> str:
    """A short key, equal for two runs exactly when their containers are configured alike.

    An empty value (`cap_add = []`, `security_opt = []`, `environment = {}`) means what an absent key
    means; capability names compare without case or `CAP_` prefix and in any order, as the engine does;
    security options compare in any order."""
    table = {}
    for key, value in options.items():
        if value is None or value == [] or value == {} or value == "":
            continue
        if key in FALSE_IS_DEFAULT and value is False:
            continue
        if key in CAPABILITY_LISTS and isinstance(value, list):
            value = sorted({str(c).upper().removeprefix("CAP_") for c in value})
        elif key == "security_opt" and isinstance(value, list):
            value = sorted(value)
        table[key] = value
    text = json.dumps([image, table], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Unit:
    """One item of a session, as the planner sees it: the keys it shares with other items (the
    configurations of its shareable runs, a lab it uses) and its estimated seconds of work.
    `background`: its engine work can run ahead in a thread pool (a container case); otherwise the
    item runs in pytest's own thread when its turn comes (host steps, Python tests)."""

    keys: tuple[str, ...] = ()
    cost: float = 0.05
    background: bool = False


def run_cost(steps: int, shared: bool) -> float:
    """Estimated seconds of one container run of `steps` steps."""
    return steps * EXEC_S + (0.0 if shared else START_S)


def partition(units: Sequence[Unit], bins: int) -> list[list[int]]:
    """Indices of `units` for each of `bins` workers.

    Units that share a key go to the same worker, so one container serves them all; a key so common that
    its units would overload one worker (more than half a worker's share of the work) is not followed:
    each worker then starts its own container for it. Groups go heaviest first to the least loaded
    worker: first the work that runs in pytest's thread (one item after another), then the pool's. Within a
    worker, units that run in pytest's thread come first (so they overlap with the
    pool's work), then the rest; each in collection order."""
    if bins <= 1:
        return [_ordered(units, range(len(units)))]
    total = sum(u.cost for u in units) or 1.0
    weight: dict[str, float] = {}
    for unit in units:
        for key in unit.keys:
            weight[key] = weight.get(key, 0.0) + unit.cost
    hubs = {k for k, w in weight.items() if w > total / bins / 2}
    parent = list(range(len(units)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, unit in enumerate(units):
        for key in unit.keys:
            if key in hubs:
                continue
            if key in first:
                parent[root(i)] = root(first[key])
            else:
                first[key] = i
    groups: dict[int, list[int]] = {}
    for i in range(len(units)):
        groups.setdefault(root(i), []).append(i)
    loads, serial = [0.0] * bins, [0.0] * bins
    out: list[list[int]] = [[] for _ in range(bins)]

    def weight_of(members: list[int]) -> float:
        return sum(units[i].cost for i in members)

    ordered = sorted(groups.values(), key=lambda m: (-weight_of(m), m[0]))
    # Work in pytest's thread runs one item after another: spread it first, so no worker's serial chain is
    # longer than it must be; then fill up with the pool's work, which runs alongside.
    for members in [m for m in ordered if not all(units[i].background for i in m)]:
        target = min(range(bins), key=lambda b: (serial[b], loads[b], b))
        out[target].extend(members)
        serial[target] += weight_of(members)
        loads[target] += weight_of(members)
    for members in [m for m in ordered if all(units[i].background for i in m)]:
        target = min(range(bins), key=lambda b: (loads[b], b))
        out[target].extend(members)
        loads[target] += weight_of(members)
    return [_ordered(units, sorted(b)) for b in out]


def _ordered(units: Sequence[Unit], indices: Sequence[int]) -> list[int]:
    return [i for i in indices if not units[i].background] + [i for i in indices if units[i].background]


def unit(case: Case, values: Mapping[str, Any]) -> Unit:
    """A case as the planner sees it (InputError for an unusable input). Keys use the scenario's options
    (a seccomp profile by its path), which groups exactly as the engine-side key does for the pack."""
    if case.runner == "host":
        labs = tuple(f"lab:{use}" for use in case.uses if use == "trust-lab")  # one lab per worker
        own_lab = OWN_LAB_S if "trust-lab:own" in case.uses else 0.0
        return Unit(labs, len(case.steps) * HOST_STEP_S + own_lab)
    keys: list[str] = []
    cost = 0.0
    for run in case_runs(case, values):
        if run is None:
            continue
        if run.shareable:
            keys.append(configuration(run.image, run.options))
        cost += run_cost(len(run.steps), run.shareable)
    return Unit(tuple(keys), cost, background=True)
