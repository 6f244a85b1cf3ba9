"""A connection to a Docker Engine, and the sweeps that remove what hardlab left on it.

Every container and network hardlab makes carries its labels (`hardlab.engine.labels`): a sweep at start
removes leftovers of runs whose owner died, a sweep at the end removes the run's own.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import docker.utils
import requests.exceptions
import requests.utils

from hardlab.engine import labels
from hardlab.errors import HarnessError
from hardlab.system import processes


class EngineError(HarnessError):
    """The harness could not do its job (engine down, image missing, API error): not a security finding."""


def connect(timeout: int = 120) -> docker.DockerClient:
    """A client for DOCKER_HOST (or the local socket) that has answered a ping; TLS when DOCKER_TLS_VERIFY /
    DOCKER_CERT_PATH say so."""
    try:
        kwargs = docker.utils.kwargs_from_env()
        if "tls" in kwargs:
            client = _tls_client(kwargs["base_url"], kwargs["tls"], timeout)
        else:
            # ssh:// through the ssh client (as connect_to does), not paramiko, which hardlab does not install
            ssh = os.environ.get("DOCKER_HOST", "").startswith("ssh://")
            client = docker.from_env(timeout=timeout, use_ssh_client=ssh)
            _read_environment_once(client)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineError(
            f"no Docker Engine answers at {where}: {exc}. Start one (make run does: scripts/ensure-engine)"
        ) from exc
    return client


# The API version a TLS client starts with, before it asks the engine for its own (Docker 20.10 speaks 1.41).
TLS_API_FLOOR = "1.41"


def _tls_client(base_url: str, tls: docker.tls.TLSConfig, timeout: int) -> docker.DockerClient:
    """A TLS client verified against the engine's own CA. docker-py asks the engine its API version while
    it is being made, through requests, which lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on many hosts)
    replace that CA: so it starts with a fixed version, stops reading the environment, then asks."""
    client = docker.DockerClient(base_url=base_url.replace("tcp://", "https://"), tls=tls, timeout=timeout,
                                 version=TLS_API_FLOOR)  # fmt: skip
    _read_environment_once(client)
    served = str(client.api.version(api_version=False).get("ApiVersion") or TLS_API_FLOOR)
    client.api._version = served  # type: ignore[attr-defined]  # what docker-py's "auto" stores
    return client


def _read_environment_once(client: docker.DockerClient) -> None:
    """requests looks up proxy variables on every call by iterating os.environ, which raises KeyError in a
    worker thread while pytest's thread sets or removes PYTEST_CURRENT_TEST. Look them up once, here."""
    api = client.api
    api.proxies = requests.utils.get_environ_proxies(api.base_url)
    api.trust_env = False


def sweep_dead(client: docker.DockerClient) -> int:
    """Remove hardlab containers and networks whose owning process is gone (crash, kill -9)."""
    removed = 0
    # sparse: no per-container inspect, which races with other runs removing their own containers.
    for container in client.containers.list(all=True, sparse=True, filters={"label": labels.KEY}):
        if not labels.owner_alive((container.attrs.get("Labels") or {}).get(labels.OWNER, "")):
            removed += _remove_or_skip(container)
    for network in client.networks.list(filters={"label": labels.KEY}):
        if not labels.owner_alive(network.attrs.get("Labels", {}).get(labels.OWNER, "")):
            quiet(network.remove)
    return removed + sweep_dead_images(client)


def sweep_dead_images(client: docker.DockerClient) -> int:
    """Remove the images a run built whose owning process is gone (a grading run killed mid-build: its end,
    which removes them, never came). Only images carrying a run's owner label: lab images carry none."""
    removed = 0
    found = client.images.list(all=True, filters={"label": labels.OWNER})
    dead = [i for i in found if not labels.owner_alive((i.labels or {}).get(labels.OWNER, ""))]
    for image in sorted(dead, key=lambda i: i.attrs.get("Created", ""), reverse=True):  # children first
        for ref in [*image.tags, str(image.id)]:
            try:
                client.images.remove(ref, force=True, noprune=False)
                removed += 1
            except docker.errors.NotFound:
                break
            except (docker.errors.APIError, requests.exceptions.RequestException):
                continue  # in use or the engine is slow: the next sweep tries again
    return removed


def sweep_run(client: docker.DockerClient, run_id: str) -> int:
    """Remove every container and network of `run_id`. Raises EngineError when the engine does not answer."""
    try:
        return _sweep_run(client, run_id)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"could not sweep run {run_id}: {type(exc).__name__}") from exc


def _sweep_run(client: docker.DockerClient, run_id: str) -> int:
    removed = 0
    for container in client.containers.list(all=True, sparse=True, filters={"label": f"{labels.RUN}={run_id}"}):
        removed += _remove_or_skip(container)
    for network in client.networks.list(filters={"label": f"{labels.RUN}={run_id}"}):
        quiet(network.remove)
    return removed


def unwedge(container_id: str) -> int:
    """Kill the local runtime processes (`runc ... create --bundle ... ID`) stuck on one container, found by
    its full id, so the engine can remove it (runc 1.1 hangs forever creating a container whose seccomp
    profile kills every syscall, and the engine's removal waits for it). 0 when none (a remote engine)."""
    killed = 0
    for pid in processes.matching("runc", "--bundle", container_id):
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    if killed:
        time.sleep(0.5)  # the engine notices its runtime died and fails the start
    return killed


def _remove_or_skip(container: Any) -> int:
    """remove(), but one container the engine cannot remove (or answer about in time) never stops a sweep
    of the others; the next sweep tries it again."""
    try:
        return remove(container)
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return 0


def remove(container: Any) -> int:
    """Force-remove a container (a wedged one's runtime is killed first, so this does not hang)."""
    unwedge(str(container.id))
    try:
        container.remove(force=True, v=True)
        return 1
    except docker.errors.NotFound:
        return 0
    except docker.errors.APIError as exc:
        if "already in progress" in str(exc):
            return 0
        raise


def quiet(action: Callable[[], Any]) -> None:
    with suppress(docker.errors.APIError):
        action()


def connect_to(
    url: str, *, timeout: int = 60, tls_dir: str | Path | None = None, verify: bool = True
) -> docker.DockerClient:
    """A client for one engine URL (unix://, tcp://, ssh://) that has answered a ping. `tls_dir` holds
    cert.pem, key.pem and ca.pem for tcp+TLS (verified against ca.pem unless `verify` is false)."""
    try:
        if url.startswith("ssh://"):
            client = docker.DockerClient(base_url=url, timeout=timeout, use_ssh_client=True)
        elif url.startswith("tcp://") and tls_dir is not None:
            certs = Path(tls_dir)
            tls = docker.tls.TLSConfig(
                client_cert=(str(certs / "cert.pem"), str(certs / "key.pem")),
                ca_cert=str(certs / "ca.pem") if verify else None,
                verify=verify,
            )
            client = _tls_client(url, tls, timeout)
        else:
            client = docker.DockerClient(base_url=url, timeout=timeout)
        _read_environment_once(client)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise EngineError(f"{url} does not answer: {type(exc).__name__}: {exc}") from exc
    return client


def connect_endpoint(endpoint: Any, timeout: int = 60) -> docker.DockerClient:
    """A client for a `hardlab.engine.endpoints.Endpoint` (its TLS folder, if any) that has answered a ping."""
    try:
        return connect_to(endpoint.url, timeout=timeout, tls_dir=endpoint.certs or None)
    except EngineError as exc:
        raise EngineError(f"engine {endpoint.name}: {exc}") from exc.__cause__


def answers(client: Any, timeout: float = 5) -> bool:
    """Whether the engine still answers a ping within `timeout` seconds (not the client's own timeout)."""
    try:
        api = client.api
        return bool(api.get(api.base_url + "/_ping", timeout=timeout).ok)
    except Exception:  # any failure to answer is "down"
        return False
