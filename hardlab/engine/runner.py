"""Run cases on a real Docker Engine through docker-py: steps by exec in labelled containers.

A case's control and its own run start at the same time, each in a container of its own or, when the
session planned it, in the running container that read-only runs of the same configuration share
(`hardlab.engine.shared`; `hardlab.core.sharing` decides which runs may). Create and start are separate
calls so a failed start is still removed; every container carries the run's labels; a sweep at start
removes leftovers of dead runs and a sweep at the end removes the run's.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests.exceptions

from hardlab import config
from hardlab.core.expect import evaluate, judge_start_error, output_lost
from hardlab.core.inputs import InputError
from hardlab.core.results import CaseResult, Observed, RunResult
from hardlab.core.rules import Facts, resolve_case, stretch_timeouts
from hardlab.core.sharing import RunSpec, case_runs, configuration
from hardlab.engine import batch, images, labels
from hardlab.engine.client import EngineError, quiet, remove, unwedge
from hardlab.engine.shared import Containers, Started
from hardlab.spec import PROBE, Case, ProfileError, Step, read_profile, seccomp_text_problems, substitute

KEEPALIVE = ["sleep", "infinity"]
# A start takes ~0.3 s; one still not done after this is wedged (runc 1.1 hangs forever on a seccomp
# profile that kills every syscall), and is given up, its runtime process killed, its container removed.
START_TIMEOUT = 30.0
OUTPUT_CAP = 1 << 20  # bytes kept of each output stream of a step
# A step's timeout counts from its submission here, so there is a thread for every run a session has in
# flight (a prefetching session runs several cases at once, each with its control).
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="hardlab-exec")
# A case's own run, started next to its control (which runs in the caller's thread).
_runs = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="hardlab-run")
# Removing a container takes ~150 ms that nothing waits for: a reaper does it while the next case runs.
# drain() at session end waits for it; the run's sweep catches anything a crash left.
_reaper = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="hardlab-reaper")
_pending: set[concurrent.futures.Future[int]] = set()
_serial = itertools.count()
# Per API client, not per base_url: every unix-socket client's base_url is http+docker://localhost, so a
# base_url key let one engine's image stand in for another's (an audit of three local engines at once).
_images: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
_live: dict[str, Any] = {}  # containers this process made and has not handed to the reaper yet
_live_lock = threading.Lock()


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
    with _container(client, run.image, command, options, run.labels, run.name_prefix, containers) as container:
        result.container_id = container.id
        try:
            _start(container)
        except docker.errors.APIError as exc:
            result.started = False
            result.start_error = _api_message(exc)
            result.start_duration = time.time() - result.started_at
            if run.spec.start_error:
                result.steps.append(judge_start_error(run.spec.start_error, result.start_error))
            return result
        result.start_duration = time.time() - result.started_at
        if run.spec.start_error:
            result.steps.append(judge_start_error(run.spec.start_error, ""))
            return result
        # A timed-out step is stopped by killing its container; later steps have nothing to run in.
        _steps(client, container, steps, result, lambda: quiet(lambda: container.kill()))
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
            _steps(client, lease.container, run.spec.steps, result, lease.retire)
            if attempt == 1 and _died(lease.container, result):
                lease.retire()
                containers.expect(run.key)  # the repeat is planned too: it gets a fresh shared container
                continue
            return result
    raise AssertionError("unreachable")


def _start_shared(client: docker.DockerClient, run: Run, containers: Containers) -> Started:
    run_labels = {**run.labels, labels.CASE: f"shared by runs of configuration {run.key}"}
    container = _create(client, run.image, KEEPALIVE, dict(run.options), run_labels, run.name_prefix, containers)
    try:
        _start(container)
    except docker.errors.APIError as exc:
        _reap(container)
        return Started(None, _api_message(exc))
    except BaseException:
        _reap(container)
        raise
    if _batches is not None:
        _batches.preload(client, run.key, container.id)
    return Started(container)


class StartTimeout(docker.errors.APIError):
    """The engine did not start the container in time (a wedged runtime): reported as a failed start."""


def _start(container: Any) -> None:
    """container.start(), bounded by START_TIMEOUT: a wedged start raises StartTimeout once the
    container's runtime process is killed (so its removal, and every later sweep, is not blocked)."""
    future = _pool.submit(container.start)
    try:
        future.result(timeout=START_TIMEOUT)
    except concurrent.futures.TimeoutError:
        killed = unwedge(str(container.id))
        how = "its runtime process was killed and the container removed" if killed else "the container is removed"
        raise StartTimeout(
            f"the engine did not start the container within {START_TIMEOUT:.0f} s ({how}); a seccomp profile "
            "that kills every syscall (defaultAction SCMP_ACT_KILL) wedges runc 1.1 like this"
        ) from None
    except docker.errors.APIError:
        raise  # the engine refused the start (an HTTPError too): the caller reports the failed start
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"the engine did not answer the container's start: {type(exc).__name__}") from exc


def _died(container: Any, result: RunResult) -> bool:
    """Whether an exec failed because the container is gone (not because of what the step ran)."""
    if not any(s.observed.exit_code == 126 and not s.observed.stdout for s in result.steps):
        return False
    try:
        container.reload()
    except docker.errors.NotFound:
        return True
    return bool(container.status != "running")


def _steps(
    client: docker.DockerClient, container: Any, steps: tuple[Step, ...], result: RunResult,
    on_timeout: Callable[[], None],
) -> None:  # fmt: skip
    """Run and judge `steps` in order; stop at a skip or at a timeout (after `on_timeout`)."""
    for step in steps:
        seen = _observe(client, container, step)
        step_result = evaluate(step, seen)
        if output_lost(step_result):  # moby#27289: the engine lost the output, not the kernel's verdict
            seen = _observe(client, container, step)
            step_result = evaluate(step, seen)
        if seen.timed_out:
            on_timeout()
        result.steps.append(step_result)
        if step_result.skip_reason:
            result.skip_reason = step_result.skip_reason
            break
        if seen.timed_out:
            break


@contextmanager
def _container(
    client: docker.DockerClient,
    image: str,
    command: list[str] | str | None,
    options: dict[str, Any],
    run_labels: dict[str, str],
    name_prefix: str,
    containers: Containers | None = None,
) -> Iterator[Any]:
    container = _create(client, image, command, options, run_labels, name_prefix, containers)
    try:
        yield container
    finally:
        _reap(container)


def _create(
    client: docker.DockerClient,
    image: str,
    command: list[str] | str | None,
    options: dict[str, Any],
    run_labels: dict[str, str],
    name_prefix: str,
    containers: Containers | None,
) -> Any:
    name = f"{name_prefix}-{os.getpid()}-{next(_serial)}-{time.monotonic_ns() % 10**6}"
    with containers.creating() if containers is not None else nullcontext():
        try:
            container = client.containers.create(image, command, name=name, labels=run_labels, detach=True, **options)
        except docker.errors.ImageNotFound as exc:
            raise EngineError(f"image {image!r} is not on the engine and was not built: {_api_message(exc)}") from exc
        except docker.errors.APIError as exc:
            raise EngineError(f"the engine refused to create the container: {_api_message(exc)}") from exc
        with _live_lock:
            _live[str(container.id)] = container
    return container


def _reap(container: Any) -> None:
    with _live_lock:
        _live.pop(container.id, None)
    future = _reaper.submit(remove, container)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def drain(timeout: float = 120) -> None:
    """Wait until every container this process started has been removed."""
    concurrent.futures.wait(list(_pending), timeout=timeout)


def session_containers() -> Containers:
    """The containers of a new session: its gate and its shared containers, removed by the reaper."""
    return Containers(_reap)


def remove_all() -> None:
    """Remove every container this process still has (the session ends with runs still in them: their
    steps fail fast and nobody reads their results)."""
    with _live_lock:
        left = list(_live.values())
    for container in left:
        _reap(container)


def _api_message(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()


def _observe(client: docker.DockerClient, container: Any, step: Step) -> Observed:
    """What one step did, with the wall-clock time it began (the reports' timeline)."""
    began = time.time()
    return dataclasses.replace(_observe_step(client, container, step), started_at=began)


def _observe_step(client: docker.DockerClient, container: Any, step: Step) -> Observed:
    started = time.monotonic()
    if step.kind == "wait":
        return _wait(container, step, started)
    answer = _batched(client, container, step)
    if answer is not None:
        return Observed(answer.code, answer.out, answer.err, answer.seconds)
    future = _pool.submit(_exec, client, container.id, list(step.argv), step.user)
    try:
        code, out, err, cut = future.result(timeout=step.timeout)
    except concurrent.futures.TimeoutError:  # the caller stops it (kills or retires the container)
        return Observed(None, "", "", time.monotonic() - started, timed_out=True)
    note = ""
    if code == 126 and _exited(container):  # the exec raced the main process's exit, or came after it
        note = "the step could not run: the container's main process had already exited"
    return Observed(code, out, err, time.monotonic() - started, cut=cut, note=note)


def _batched(client: docker.DockerClient, container: Any, step: Step) -> batch.Answer | None:
    """The probe's answer from a shared exec (engine/batch.py); None: run it on its own, as always."""
    if _batches is None:
        return None
    preloaded = _batches.take(container.id, step.argv, step.user, step.timeout)
    if preloaded is not None:
        return preloaded
    future = _batches.submit(client, container.id, step.argv, step.user, step.timeout)
    if future is None:
        return None
    try:
        return future.result(timeout=batch.WAIT)
    except concurrent.futures.TimeoutError:
        return None


def plan_probes(run: Run) -> None:
    """Tell the batcher which probes a shared run will make, so its container's start preloads them."""
    if _batches is not None:
        for step in run.spec.steps:
            if step.kind != "wait":
                _batches.plan(run.key, step.argv, step.user, step.timeout)


def _exited(container: Any) -> bool:
    try:
        container.reload()
    except docker.errors.NotFound:
        return True
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return False
    return bool(container.status not in ("running", "paused"))


def _exec(
    client: docker.DockerClient, container_id: str, argv: list[str], user: str | None
) -> tuple[int | None, str, str, str]:
    api = client.api
    try:
        exec_id = api.exec_create(container_id, argv, user=user or "", stdout=True, stderr=True)["Id"]
        out, err = Capped(), Capped()
        for chunk_out, chunk_err in api.exec_start(exec_id, stream=True, demux=True):
            out.add(chunk_out)
            err.add(chunk_err)
        code = api.exec_inspect(exec_id)["ExitCode"]
    except docker.errors.APIError as exc:
        # e.g. `exec: "nmap": executable file not found`: the command could not run at all.
        return 126, "", _api_message(exc), ""
    return code, out.text(), err.text(), cut_note(out, err)


_batches = batch.Batches(_exec, PROBE) if config.batch_probes() else None


class Capped:
    """One output stream, read as it comes, keeping at most OUTPUT_CAP bytes (a step that floods its
    output costs the grader nothing); what was cut is said at the end of what is kept."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = OUTPUT_CAP if cap is None else cap
        self.kept = bytearray()
        self.seen = 0

    def add(self, chunk: bytes | None) -> None:
        if not chunk:
            return
        self.seen += len(chunk)
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")

    def note(self, name: str) -> str:
        return f"{name}: kept the first {len(self.kept)} of {self.seen} bytes" if self.seen > len(self.kept) else ""


def cut_note(out: Capped, err: Capped) -> str:
    """What was cut of a step's output ("" when nothing was), kept apart from the output so that no
    check matches hardlab's own words."""
    return "; ".join(n for n in (out.note("stdout"), err.note("stderr")) if n)


def _wait(container: Any, step: Step, started: float) -> Observed:
    try:
        status = container.wait(timeout=step.timeout)
    except requests.exceptions.RequestException:
        return Observed(None, "", "", time.monotonic() - started, timed_out=True)
    state = final_state(container, status.get("StatusCode"))
    out, err = _logs(container)
    return Observed(status.get("StatusCode"), out.text(), err.text(), time.monotonic() - started,
                    oom_killed=state.get("OOMKilled"), cut=cut_note(out, err))  # fmt: skip


OOM_FLAG_WAIT = 2.0  # seconds; the engine records the OOM event after the exit (seen on 20.10.24)


def final_state(container: Any, code: int | None) -> dict[str, Any]:
    """The exited container's State. An exit by SIGKILL (137) may be an OOM kill whose flag the engine
    sets a moment after reporting the exit (containerd's OOM event trails the exit event), so a 137
    without the flag is read again until the flag shows or OOM_FLAG_WAIT has passed."""
    deadline = time.monotonic() + OOM_FLAG_WAIT
    while True:
        container.reload()
        state: dict[str, Any] = container.attrs.get("State", {})
        if code != 137 or state.get("OOMKilled") or time.monotonic() >= deadline:
            return state
        time.sleep(0.1)


def _logs(container: Any) -> tuple[Capped, Capped]:
    """A finished container's stdout and stderr, each read as a stream and capped."""
    out, err = Capped(), Capped()
    for kept, which in ((out, {"stdout": True, "stderr": False}), (err, {"stdout": False, "stderr": True})):
        for chunk in container.logs(stream=True, follow=False, **which):
            kept.add(chunk)
    return out, err


def run_once(
    client: docker.DockerClient, image: str, argv: list[str], run_labels: dict[str, str], timeout: float = 60,
    **options: Any,
) -> tuple[int | None, str, str]:
    """Run `argv` as a labelled container's main process to its end: (exit code, stdout, stderr).
    The container is removed; raises EngineError when the engine cannot run it."""
    try:
        with _container(client, image, argv, options, run_labels, "hardlab-once") as container:
            container.start()
            status = container.wait(timeout=timeout)
            out, err = _logs(container)
            return status.get("StatusCode"), out.text(), err.text()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"{type(exc).__name__}: {_api_message(exc)}") from exc
