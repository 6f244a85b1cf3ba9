"""The scanning lab's "fixed" image: lab:tools with the tools nobody needs at run time purged.

Offline there is no `apt-get upgrade`, and the honest remediation the lab teaches is the other common one:
ship less. The variant is derived from the lab image by purging nmap, strace, python3 and ping inside a
container with no network, then committing it. Cached by the base image's id, labelled like lab images.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from hardlab.engine import labels
from hardlab.system.locks import file_lock

REPOSITORY = "hardlab-scan/tools-slim"  # not under hardlab/: images.prune_stale only knows recipe tags
PURGE = (
    "nmap",
    "nmap-common",
    "strace",
    "iputils-ping",
    "python3",
    "python3-minimal",
    "python3.11",
    "python3.11-minimal",
    "libpython3-stdlib",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
)
TIMEOUT_S = 120


def slim_tag(base_id: str) -> str:
    return f"{REPOSITORY}:{base_id.split(':')[-1][:12]}"


def ensure_slim(client: Any, base: str) -> str:
    """Tag of the slim variant of `base` (an image reference), building it once."""
    import docker.errors

    base_image = client.images.get(base)
    tag = slim_tag(base_image.id)
    lock_dir = Path(os.environ.get("HARDLAB_CACHE", Path.home() / ".cache" / "hardlab"))
    lock_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(lock_dir / ".scan-slim.lock"):  # xdist workers: one builds, the others find it built
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        run_labels = labels.for_run(os.environ.get("HARDLAB_RUN_ID") or labels.new_run_id(), labels.owner())
        script = (
            "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove "
            + " ".join(PURGE)
            + " >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }; rm -f /tmp/purge.log"
        )
        container = client.containers.create(
            base_image.id,
            command=["sh", "-c", script],
            entrypoint=[],
            labels=run_labels,
            network_disabled=True,
            user="0",
        )
        try:
            container.start()
            status = container.wait(timeout=TIMEOUT_S)
            if status.get("StatusCode") != 0:
                logs = container.logs().decode(errors="replace")[-1500:]
                raise RuntimeError(f"purging the lab tools from {base} failed ({status}): {logs}")
            repo, _, version = tag.partition(":")
            container.commit(
                repository=repo,
                tag=version,
                changes=[
                    'CMD ["/bin/sh"]',
                    f"LABEL {labels.KEY}=1 hardlab.recipe=tools-slim hardlab.run= hardlab.owner=",
                ],
            )
        finally:
            container.remove(force=True)
        for old in client.images.list(name=REPOSITORY):  # variants of earlier lab:tools builds
            for old_tag in old.tags:
                if old_tag != tag:
                    with contextlib.suppress(docker.errors.APIError):
                        client.images.remove(old_tag)
    return tag


def resolve_target(target: str, client: Any = None) -> str:
    """`lab:NAME` -> the built lab image; `lab:tools-slim` -> the slim variant; anything else unchanged."""
    if not target.startswith("lab:"):
        return target
    from hardlab.engine import images
    from hardlab.engine.runner import connect

    client = client or connect()
    if target == "lab:tools-slim":
        return ensure_slim(client, images.ensure(client, "lab:tools"))
    return images.ensure(client, target)
