"""Read-only views of an engine's state: its networks and running containers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker.errors


def network_options(client: Any, name: str) -> dict[str, str] | None:
    """A network's driver options; None when the engine has no such network (e.g. --bridge none)."""
    try:
        return dict(client.networks.get(name).attrs.get("Options") or {})
    except docker.errors.NotFound:
        return None


def running_containers(client: Any, skip: Callable[[dict[str, str]], bool]) -> list[dict[str, Any]]:
    """inspect attrs of every running container whose labels `skip` does not reject."""
    out = []
    for summary in client.api.containers():
        if skip(summary.get("Labels") or {}):
            continue
        try:
            out.append(client.api.inspect_container(summary["Id"]))
        except docker.errors.NotFound:
            continue  # it exited between the list and the inspect: nothing running to judge
    return out
