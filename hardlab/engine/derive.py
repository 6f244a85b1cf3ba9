"""Images derived from another image by one shell script: run it in a container without network, commit.

Used for the scanning lab's slim variant. The result is tagged `REPOSITORY:<first 12 hex of the base's id>`,
so it is built once per base image; a file lock keeps xdist workers from building it twice, and tags of the
same repository made from earlier bases are removed. The build container carries this run's labels and is
removed however the build ends.
"""

from __future__ import annotations

import contextlib
from typing import Any

import docker.errors

from hardlab import config
from hardlab.engine import labels
from hardlab.engine.images import ImageError
from hardlab.system.locks import file_lock


def derived_tag(repository: str, base_id: str) -> str:
    return f"{repository}:{base_id.split(':')[-1][:12]}"


def ensure_derived(
    client: Any, base: str, repository: str, script: str, changes: list[str], what: str, timeout_s: float = 120
) -> str:
    """The tag of `base` after `sh -c script` ran in it as root, committed with `changes` (Dockerfile lines);
    built when missing. `what` names the build in an ImageError ("purging the lab tools from lab:tools")."""
    base_image = client.images.get(base)
    tag = derived_tag(repository, base_image.id)
    lock = config.cache_dir() / f".derive-{repository.replace('/', '-')}.lock"
    with file_lock(lock):  # xdist workers: one builds, the others find it built
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        container = client.containers.create(
            base_image.id,
            command=["sh", "-c", script],
            entrypoint=[],
            labels=labels.for_current_run(),
            network_disabled=True,
            user="0",
        )
        try:
            container.start()
            status = container.wait(timeout=timeout_s)
            if status.get("StatusCode") != 0:
                logs = container.logs().decode(errors="replace")[-1500:]
                raise ImageError(f"{what} failed ({status}): {logs}")
            repo, _, version = tag.partition(":")
            container.commit(repository=repo, tag=version, changes=changes)
        finally:
            container.remove(force=True)
        for old in client.images.list(name=repository):  # variants derived from earlier bases
            for old_tag in old.tags:
                if old_tag != tag:
                    with contextlib.suppress(docker.errors.APIError):
                        client.images.remove(old_tag)
    return tag
