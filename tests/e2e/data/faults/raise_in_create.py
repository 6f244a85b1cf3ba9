"""A pytest plugin for the fault tests (`-p raise_in_create`): docker-py's `containers.create` raises a
ValueError for a container whose environment names RAISE_IN_CREATE. Stands in for the docker-py or
harness bugs the spec cannot foresee; the spec now rejects every bad option a real run could hit."""

from __future__ import annotations

from typing import Any

import docker.models.containers

_create = docker.models.containers.ContainerCollection.create


def _raising_create(self: Any, image: Any, command: Any = None, **kwargs: Any) -> Any:
    if "RAISE_IN_CREATE" in (kwargs.get("environment") or {}):
        raise ValueError("raised by the test plugin inside docker-py's containers.create")
    return _create(self, image, command, **kwargs)


def pytest_configure(config: Any) -> None:
    docker.models.containers.ContainerCollection.create = _raising_create  # type: ignore[method-assign]
