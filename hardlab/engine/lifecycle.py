"""The containers this process makes: created with the run's labels, started within START_TIMEOUT, removed
by a reaper while the next case runs; what is left at session end is removed, and run_once runs one
command to its end in a container of its own."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import docker
import docker.errors
import requests.exceptions

from hardlab import config
from hardlab.engine.client import EngineError, remove, unwedge
from hardlab.engine.output import read_logs
from hardlab.engine.shared import Containers

# A start takes ~0.3 s; one still not done after this is wedged (runc 1.1 hangs forever on a seccomp
# profile that kills every syscall), and is given up, its runtime process killed, its container removed.
START_TIMEOUT = 30.0  # seconds, times HARDLAB_TIMEOUT_SCALE (the lab VM under TCG sets 4)
# A step's timeout counts from its submission here, so there is a thread for every run a session has in
# flight (a prefetching session runs several cases at once, each with its control).
pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="hardlab-exec")
# Removing a container takes ~150 ms that nothing waits for: a reaper does it while the next case runs.
# drain() at session end waits for it; the run's sweep catches anything a crash left.
_reaper = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="hardlab-reaper")
_pending: set[concurrent.futures.Future[int]] = set()
_serial = itertools.count()
_live: dict[str, Any] = {}  # containers this process made and has not handed to the reaper yet
_live_lock = threading.Lock()


class StartTimeout(docker.errors.APIError):
    """The engine did not start the container in time (a wedged runtime): reported as a failed start."""


def start_container(container: Any) -> None:
    """container.start(), bounded by START_TIMEOUT: a wedged start raises StartTimeout once the
    container's runtime process is killed (so its removal, and every later sweep, is not blocked)."""
    limit = START_TIMEOUT * config.timeout_scale()
    future = pool.submit(container.start)
    try:
        future.result(timeout=limit)
    except concurrent.futures.TimeoutError:
        killed = unwedge(str(container.id))
        how = "its runtime process was killed and the container removed" if killed else "the container is removed"
        raise StartTimeout(
            f"the engine did not start the container within {limit:.0f} s ({how}); a seccomp profile "
            "that kills every syscall (defaultAction SCMP_ACT_KILL) wedges runc 1.1 like this"
        ) from None
    except docker.errors.APIError:
        raise  # the engine refused the start (an HTTPError too): the caller reports the failed start
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"the engine did not answer the container's start: {type(exc).__name__}") from exc


@contextmanager
def own_container(
    client: docker.DockerClient,
    image: str,
    command: list[str] | str | None,
    options: dict[str, Any],
    run_labels: dict[str, str],
    name_prefix: str,
    containers: Containers | None = None,
) -> Iterator[Any]:
    container = create_container(client, image, command, options, run_labels, name_prefix, containers)
    try:
        yield container
    finally:
        reap(container)


def create_container(
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
            raise EngineError(f"image {image!r} is not on the engine and was not built: {api_message(exc)}") from exc
        except docker.errors.APIError as exc:
            raise EngineError(f"the engine refused to create the container: {api_message(exc)}") from exc
        with _live_lock:
            _live[str(container.id)] = container
    return container


def reap(container: Any) -> None:
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
    return Containers(reap)


def remove_all() -> None:
    """Remove every container this process still has (the session ends with runs still in them: their
    steps fail fast and nobody reads their results)."""
    with _live_lock:
        left = list(_live.values())
    for container in left:
        reap(container)


def api_message(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc).strip()


def run_once(
    client: docker.DockerClient, image: str, argv: list[str], run_labels: dict[str, str], timeout: float = 60,
    **options: Any,
) -> tuple[int | None, str, str]:
    """Run `argv` as a labelled container's main process to its end: (exit code, stdout, stderr).
    The container is removed; raises EngineError when the engine cannot run it."""
    try:
        with own_container(client, image, argv, options, run_labels, "hardlab-once") as container:
            container.start()
            status = container.wait(timeout=timeout)
            out, err = read_logs(container)
            return status.get("StatusCode"), out.text(), err.text()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"{type(exc).__name__}: {api_message(exc)}") from exc
