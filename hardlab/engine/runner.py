"""Run cases on a real Docker Engine through docker-py: one container per case, steps by exec.

Create and start are separate calls so a failed start is still removed; every container carries the
run's labels; a sweep at start removes leftovers of dead runs and a sweep at the end removes the run's.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import requests.exceptions

from hardlab.core.expect import evaluate, judge_start_error, output_lost
from hardlab.core.inputs import InputError, container_for, steps_for
from hardlab.core.results import CaseResult, Observed, RunResult
from hardlab.core.rules import Facts, resolve_case
from hardlab.engine import images, labels
from hardlab.engine.client import EngineError, quiet, remove
from hardlab.spec import DEFAULT_LIMITS, Case, Step, seccomp_text_problems, substitute

KEEPALIVE = ["sleep", "infinity"]
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="hardlab-exec")
# Removing a container takes ~150 ms that nothing waits for: a reaper does it while the next case runs.
# drain() at session end waits for it; the run's sweep catches anything a crash left.
_reaper = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="hardlab-reaper")
_pending: set[concurrent.futures.Future[int]] = set()


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
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise InputError(f"security_opt seccomp={ref}: cannot read the profile {path}: {exc}") from exc
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


def run_case(
    client: docker.DockerClient,
    case: Case,
    base: Path,
    run_id: str,
    owner: str,
    values: Mapping[str, Any] | None = None,
    name_prefix: str = "hardlab",
    facts: Facts | None = None,
) -> CaseResult:
    """The control (if any) first, then the case itself; each in its own labelled container.

    `values` are the scenario's bound inputs (hardlab.core.inputs.bind); `facts` the engine's (for the
    steps' `when` rules; hardlab.core.rules). Raises InputError for an unusable input and EngineError when
    the engine cannot do its part (an API error or timeout mid-case included)."""
    case, skip = resolve_case(case, facts or {})
    if skip:
        return CaseResult(case, case.image, {}, RunResult(skip_reason=skip, skipped_by_rule=True))
    try:
        return _run_case(client, case, base, run_id, owner, values, name_prefix)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine failed mid-case: {type(exc).__name__}: {str(exc)[:300]}") from exc


def _run_case(
    client: docker.DockerClient,
    case: Case,
    base: Path,
    run_id: str,
    owner: str,
    values: Mapping[str, Any] | None = None,
    name_prefix: str = "hardlab",
) -> CaseResult:
    """The control (if any) first, then the case itself; each in its own labelled container.

    `values` are the scenario's bound inputs (hardlab.core.inputs.bind). Raises InputError for an unusable
    input and EngineError when the engine cannot do its part."""
    values = values or {}
    image = images.ensure(client, substitute(case.image, values))
    options = {**DEFAULT_LIMITS, **container_for(case, values)}
    result = CaseResult(case, image, options, RunResult())
    if case.control is not None:
        control_options = {**options, **substitute(dict(case.control.container), values)}
        result.control_options = control_options
        result.control = _run_container(
            client, image, docker_options(control_options, base), steps_for(case.control.steps, values), (),
            labels.for_run(run_id, owner, case.id + " (control)"), f"{name_prefix}-ctl",
        )  # fmt: skip
        if result.control.skip_reason or not result.control.ok:
            return result  # a broken control makes the check meaningless; don't spend time on it
    result.main = _run_container(
        client, image, docker_options(options, base), steps_for(case.steps, values), case.start_error,
        labels.for_run(run_id, owner, case.id), name_prefix,
    )  # fmt: skip
    return result


def _run_container(
    client: docker.DockerClient,
    image: str,
    options: dict[str, Any],
    steps: tuple[Step, ...],
    start_error: tuple[str, ...],
    run_labels: dict[str, str],
    name_prefix: str,
) -> RunResult:
    options = dict(options)
    command = options.pop("command", None) or (None if any(s.kind == "wait" for s in steps) else KEEPALIVE)
    result = RunResult()
    with _container(client, image, command, options, run_labels, name_prefix) as container:
        result.container_id = container.id
        try:
            container.start()
        except docker.errors.APIError as exc:
            result.started = False
            result.start_error = _api_message(exc)
            if start_error:
                result.steps.append(judge_start_error(start_error, result.start_error))
            return result
        if start_error:
            result.steps.append(judge_start_error(start_error, ""))
            return result
        for step in steps:
            step_result = evaluate(step, _observe(client, container, step))
            if output_lost(step_result):  # moby#27289: the engine lost the output, not the kernel's verdict
                step_result = evaluate(step, _observe(client, container, step))
            result.steps.append(step_result)
            if step_result.skip_reason:
                result.skip_reason = step_result.skip_reason
                break
            if step_result.observed.timed_out:
                break  # the container was killed to stop the step; later steps have nothing to run in
    return result


@contextmanager
def _container(
    client: docker.DockerClient,
    image: str,
    command: list[str] | str | None,
    options: dict[str, Any],
    run_labels: dict[str, str],
    name_prefix: str,
) -> Iterator[Any]:
    name = f"{name_prefix}-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    try:
        container = client.containers.create(image, command, name=name, labels=run_labels, detach=True, **options)
    except docker.errors.ImageNotFound as exc:
        raise EngineError(f"image {image!r} is not on the engine and was not built: {_api_message(exc)}") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"the engine refused to create the container: {_api_message(exc)}") from exc
    try:
        yield container
    finally:
        future = _reaper.submit(remove, container)
        _pending.add(future)
        future.add_done_callback(_pending.discard)


def drain(timeout: float = 120) -> None:
    """Wait until every container this process started has been removed."""
    concurrent.futures.wait(list(_pending), timeout=timeout)


def _api_message(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()


def _observe(client: docker.DockerClient, container: Any, step: Step) -> Observed:
    started = time.monotonic()
    if step.kind == "wait":
        return _wait(container, step, started)
    future = _pool.submit(_exec, client, container.id, list(step.argv), step.user)
    try:
        code, out, err = future.result(timeout=step.timeout)
    except concurrent.futures.TimeoutError:
        quiet(lambda: container.kill())
        return Observed(None, "", "", time.monotonic() - started, timed_out=True)
    return Observed(code, out, err, time.monotonic() - started)


def _exec(
    client: docker.DockerClient, container_id: str, argv: list[str], user: str | None
) -> tuple[int | None, str, str]:
    api = client.api
    try:
        exec_id = api.exec_create(container_id, argv, user=user or "", stdout=True, stderr=True)["Id"]
        out, err = api.exec_start(exec_id, demux=True)
        code = api.exec_inspect(exec_id)["ExitCode"]
    except docker.errors.APIError as exc:
        # e.g. `exec: "nmap": executable file not found`: the command could not run at all.
        return 126, "", _api_message(exc)
    return code, (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")


def _wait(container: Any, step: Step, started: float) -> Observed:
    try:
        status = container.wait(timeout=step.timeout)
    except requests.exceptions.RequestException:
        quiet(lambda: container.kill())
        return Observed(None, "", "", time.monotonic() - started, timed_out=True)
    container.reload()
    state = container.attrs.get("State", {})
    out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    return Observed(status.get("StatusCode"), out, err, time.monotonic() - started, oom_killed=state.get("OOMKilled"))


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
            out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            return status.get("StatusCode"), out, err
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"{type(exc).__name__}: {_api_message(exc)}") from exc
