"""Run cases on a real Docker Engine through docker-py: steps by exec in labelled containers.

A case's control and its own run start at the same time, each in a container of its own or, when the
session planned it, in the running container that read-only runs of the same configuration share
(`hardlab.engine.shared`; `hardlab.core.sharing` decides which runs may). Create and start are separate
calls so a failed start is still removed; every container carries the run's labels; a sweep at start
removes leftovers of dead runs and a sweep at the end removes the run's.

The containers' create, bounded start and removal are `hardlab.engine.lifecycle`; a step's exec or wait,
judged, is `hardlab.engine.observe`; its output bound is `hardlab.engine.output`.
"""

from __future__ import annotations

import concurrent.futures
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests.exceptions

from hardlab import config
from hardlab.core.expect import judge_start_error
from hardlab.core.inputs import InputError
from hardlab.core.results import CaseResult, RunResult
from hardlab.core.rules import Facts, resolve_case, stretch_timeouts
from hardlab.core.sharing import RunSpec, case_runs, configuration
from hardlab.engine import images, labels, observe
from hardlab.engine.client import EngineError, quiet
from hardlab.engine.lifecycle import api_message, create_container, own_container, reap, start_container
from hardlab.engine.observe import died, run_steps
from hardlab.engine.shared import Containers, Started
from hardlab.spec import Case, ProfileError, read_profile, seccomp_text_problems, substitute

KEEPALIVE = ["sleep", "infinity"]
# A case's own run, started next to its control (which runs in the caller's thread).
_runs = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="hardlab-run")
# Per API client, not per base_url: every unix-socket client's base_url is http+docker://localhost, so a
# base_url key let one engine's image stand in for another's (an audit of three local engines at once).
_images: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def docker_options(options: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Scenario options -> docker-py keyword arguments. A seccomp profile path becomes its JSON text,
    because the engine API takes the profile itself, not a path on the client."""
    out = dict(options)
    security = []
    for opt in out.get("security_opt", []) or []:
        if opt.startswith("seccomp=") and opt != "seccomp=unconfined":
            ref = opt.split("=", 1)[1]
            path = Path(ref) if Path(ref).is_absolute() else base / ref
            try:
                text = read_profile(path)
            except ProfileError as exc:
                raise InputError(f"security_opt seccomp={ref}: {exc}") from None
            problems = seccomp_text_problems(text, str(path))
            if problems:
                raise InputError("; ".join(problems))
            security.append("seccomp=" + text)
        else:
            security.append(opt)
    if "security_opt" in out:
        out["security_opt"] = security
    if "ulimits" in out:
        out["ulimits"] = [docker.types.Ulimit(**u) for u in out["ulimits"]]
    return out


@dataclass(frozen=True)
class Run:
    """One container run, ready for the engine: docker-py options, labels, its configuration key."""

    spec: RunSpec
    image: str  # the reference on the engine
    options: dict[str, Any]  # docker-py keyword arguments
    labels: dict[str, str]
    name_prefix: str
    key: str  # hardlab.core.sharing.configuration of image and options


@dataclass(frozen=True)
class Prepared:
    """A case with its runs ready: its image on the engine, its control's run (or None) and its own."""

    case: Case
    image: str
    control: Run | None
    main: Run
    skip: str = ""  # a `when` rule skips the case on this engine: nothing runs


def run_case(
    client: docker.DockerClient,
    case: Case,
    base: Path,
    run_id: str,
    owner: str,
    values: Mapping[str, Any] | None = None,
    name_prefix: str = "hardlab",
    containers: Containers | None = None,
    facts: Facts | None = None,
) -> CaseResult:
    """The control (if any) and the case itself, started together, each in its own labelled container or,
    with `containers` that planned it, in a shared one (read-only runs only).

    `values` are the scenario's bound inputs (hardlab.core.inputs.bind); `facts` the engine's (for the
    steps' `when` rules; hardlab.core.rules). Raises InputError for an unusable input and EngineError when
    the engine cannot do its part (an API error or timeout mid-case included)."""
    return execute(client, prepare(client, case, base, run_id, owner, values, name_prefix, facts), containers)


def prepare(
    client: docker.DockerClient,
    case: Case,
    base: Path,
    run_id: str,
    owner: str,
    values: Mapping[str, Any] | None = None,
    name_prefix: str = "hardlab",
    facts: Facts | None = None,
) -> Prepared:
    """The case's runs with their image on the engine and their docker-py options, its expectations decided
    by the engine's `facts` (hardlab.core.rules; a rule may skip it). Raises InputError, EngineError."""
    values = values or {}
    try:
        scale = config.timeout_scale()
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    case, skip = resolve_case(stretch_timeouts(case, scale), facts or {})
    with _engine_errors():
        image = ensure_image(client, substitute(case.image, values))
        control, main = case_runs(case, values)

        def ready(spec: RunSpec, name: str, prefix: str) -> Run:
            options = docker_options(spec.options, base)
            return Run(spec, image, options, labels.for_run(run_id, owner, name), prefix, configuration(image, options))

        ctl = ready(control, case.id + " (control)", f"{name_prefix}-ctl") if control is not None else None
        return Prepared(case, image, ctl, ready(main, case.id, name_prefix), skip)


def execute(client: docker.DockerClient, prepared: Prepared, containers: Containers | None = None) -> CaseResult:
    """Run a prepared case. A broken or skipped control makes the check meaningless: the case's own run is
    then left out of the result, as if never run. A case's own run in a container of its own starts with
    its control (the start is the slow part); one in a shared container is a few execs, run after the
    control and only if the control held."""
    main_run, control_run = prepared.main, prepared.control
    if prepared.skip:
        return CaseResult(prepared.case, prepared.image, {}, RunResult(skip_reason=prepared.skip, skipped_by_rule=True))
    result = CaseResult(prepared.case, prepared.image, main_run.spec.options, RunResult())
    with _engine_errors():
        if control_run is None:
            result.main = _run(client, main_run, containers)
            return result
        result.control_options = control_run.spec.options
        if _shares(main_run, containers):
            assert containers is not None
            try:
                result.control = _run(client, control_run, containers)
            except BaseException:
                containers.unplan(main_run.key)
                raise
            if result.control.skip_reason or not result.control.ok:
                containers.unplan(main_run.key)
                return result
            result.main = _run(client, main_run, containers)
            return result
        main = _runs.submit(_run, client, main_run, containers)
        try:
            result.control = _run(client, control_run, containers)
        finally:
            concurrent.futures.wait([main])
        if result.control.skip_reason or not result.control.ok:
            return result
        result.main = main.result()
    return result


@contextmanager
def _engine_errors() -> Iterator[None]:
    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine failed mid-case: {type(exc).__name__}: {str(exc)[:300]}") from exc


def ensure_image(client: docker.DockerClient, image: str) -> str:
    """images.ensure, asked once per lab image and engine in a process (every case asks)."""
    if not image.startswith(images.PREFIX):
        return images.ensure(client, image)
    known = _images.setdefault(client.api, {})
    if image not in known:
        known[image] = images.ensure(client, image)
    return known[image]


def plan_probes(run: Run) -> None:
    """Tell the batcher which probes a shared run will make, so its container's start preloads them."""
    observe.plan_probes(run.key, run.spec.steps)


def _shares(run: Run, containers: Containers | None) -> bool:
    return containers is not None and run.spec.shareable and containers.expects(run.key)


def _run(client: docker.DockerClient, run: Run, containers: Containers | None) -> RunResult:
    if _shares(run, containers):
        assert containers is not None
        return _run_shared(client, run, containers)
    return _run_own(client, run, containers)


def _run_own(client: docker.DockerClient, run: Run, containers: Containers | None) -> RunResult:
    options = dict(run.options)
    steps = run.spec.steps
    command = options.pop("command", None) or (None if any(s.kind == "wait" for s in steps) else KEEPALIVE)
    result = RunResult(started_at=time.time())
    with own_container(client, run.image, command, options, run.labels, run.name_prefix, containers) as container:
        result.container_id = container.id
        try:
            start_container(container)
        except docker.errors.APIError as exc:
            result.started = False
            result.start_error = api_message(exc)
            result.start_duration = time.time() - result.started_at
            if run.spec.start_error:
                result.steps.append(judge_start_error(run.spec.start_error, result.start_error))
            return result
        result.start_duration = time.time() - result.started_at
        if run.spec.start_error:
            result.steps.append(judge_start_error(run.spec.start_error, ""))
            return result
        # A timed-out step is stopped by killing its container; later steps have nothing to run in.
        run_steps(client, container, steps, result, lambda: quiet(lambda: container.kill()))
    return result


def _run_shared(client: docker.DockerClient, run: Run, containers: Containers) -> RunResult:
    """Read-only steps in the configuration's shared container. A step that times out retires it (it is
    killed once the runs inside it are done); a container that died under the run is retired and the
    run repeated once in a fresh one, so one case's trouble never shows in another's result."""
    for attempt in (1, 2):
        with containers.lease(run.key, lambda: _start_shared(client, run, containers)) as lease:
            if lease.start_error is not None:
                return RunResult(started=False, start_error=lease.start_error, steps=[])
            result = RunResult(container_id=lease.container.id, started_at=time.time())
            run_steps(client, lease.container, run.spec.steps, result, lease.retire)
            if attempt == 1 and died(lease.container, result):
                lease.retire()
                containers.expect(run.key)  # the repeat is planned too: it gets a fresh shared container
                continue
            return result
    raise AssertionError("unreachable")


def _start_shared(client: docker.DockerClient, run: Run, containers: Containers) -> Started:
    run_labels = {**run.labels, labels.CASE: f"shared by runs of configuration {run.key}"}
    options = dict(run.options)
    container = create_container(client, run.image, KEEPALIVE, options, run_labels, run.name_prefix, containers)
    try:
        start_container(container)
    except docker.errors.APIError as exc:
        reap(container)
        return Started(None, api_message(exc))
    except BaseException:
        reap(container)
        raise
    if observe.batches is not None:
        observe.batches.preload(client, run.key, container.id)
    return Started(container)
