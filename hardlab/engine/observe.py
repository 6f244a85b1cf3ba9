"""What a step did in a running container: an exec (its output bounded, its timeout from submission) or,
for a `wait` step, the container's own exit and logs; each judged in order by run_steps."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import requests.exceptions

from hardlab import config
from hardlab.core.expect import evaluate, output_lost
from hardlab.core.results import Observed, RunResult
from hardlab.engine import batch
from hardlab.engine.lifecycle import api_message, pool
from hardlab.engine.output import Capped, cut_note, read_logs
from hardlab.spec import PROBE, Step


def died(container: Any, result: RunResult) -> bool:
    """Whether an exec failed because the container is gone (not because of what the step ran)."""
    if not any(s.observed.exit_code == 126 and not s.observed.stdout for s in result.steps):
        return False
    try:
        container.reload()
    except docker.errors.NotFound:
        return True
    return bool(container.status != "running")


def run_steps(
    client: docker.DockerClient, container: Any, steps: tuple[Step, ...], result: RunResult,
    on_timeout: Callable[[], None],
) -> None:  # fmt: skip
    """Run and judge `steps` in order; stop at a skip or at a timeout (after `on_timeout`)."""
    for step in steps:
        seen = observe(client, container, step)
        step_result = evaluate(step, seen)
        if output_lost(step_result):  # moby#27289: the engine lost the output, not the kernel's verdict
            seen = observe(client, container, step)
            step_result = evaluate(step, seen)
        if seen.timed_out:
            on_timeout()
        result.steps.append(step_result)
        if step_result.skip_reason:
            result.skip_reason = step_result.skip_reason
            break
        if seen.timed_out:
            break


def observe(client: docker.DockerClient, container: Any, step: Step) -> Observed:
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
    future = pool.submit(_exec, client, container.id, list(step.argv), step.user)
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
    if batches is None:
        return None
    preloaded = batches.take(container.id, step.argv, step.user, step.timeout)
    if preloaded is not None:
        return preloaded
    future = batches.submit(client, container.id, step.argv, step.user, step.timeout)
    if future is None:
        return None
    try:
        return future.result(timeout=batch.WAIT)
    except concurrent.futures.TimeoutError:
        return None


def plan_probes(key: str, steps: tuple[Step, ...]) -> None:
    """Tell the batcher which probes a run of configuration `key` will make in its shared container."""
    if batches is not None:
        for step in steps:
            if step.kind != "wait":
                batches.plan(key, step.argv, step.user, step.timeout)


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
        return 126, "", api_message(exc), ""
    return code, out.text(), err.text(), cut_note(out, err)


# Probes sent to one container share execs (HARDLAB_BATCH=0: none do); runner preloads a shared
# container's planned probes once it has started.
batches = batch.Batches(_exec, PROBE) if config.batch_probes() else None


def _wait(container: Any, step: Step, started: float) -> Observed:
    try:
        status = container.wait(timeout=step.timeout)
    except requests.exceptions.RequestException:
        return Observed(None, "", "", time.monotonic() - started, timed_out=True)
    state = final_state(container, status.get("StatusCode"))
    out, err = read_logs(container)
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
