"""The scanning lab's targets: `lab:NAME` images, and lab:tools-slim, lab:tools with the run-time-unneeded
tools purged.

Offline there is no `apt-get upgrade`, and the honest remediation the lab teaches is the other common one:
ship less. The variant is derived from the lab image by purging nmap, strace, python3 and ping inside a
container with no network, then committing it. Cached by the base image's id, labelled like lab images.
"""

from __future__ import annotations

from typing import Any

from hardlab.engine import labels

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
SCRIPT = (
    "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove "
    + " ".join(PURGE)
    + " >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; exit 1; }; rm -f /tmp/purge.log"
)
CHANGES = ['CMD ["/bin/sh"]', f"LABEL {labels.KEY}=1 hardlab.recipe=tools-slim hardlab.run= hardlab.owner="]


def ensure_slim(client: Any, base: str) -> str:
    """Tag of the slim variant of `base` (an image reference), building it once."""
    from hardlab.engine.derive import ensure_derived  # docker-py only when an image is involved

    return ensure_derived(
        client, base, REPOSITORY, SCRIPT, CHANGES, what=f"purging the lab tools from {base}", timeout_s=TIMEOUT_S
    )


def resolve_target(target: str, client: Any = None) -> str:
    """`lab:NAME` -> the built lab image; `lab:tools-slim` -> the slim variant; anything else unchanged."""
    if not target.startswith("lab:"):
        return target
    from hardlab.engine import images
    from hardlab.engine.client import connect

    client = client or connect()
    if target == "lab:tools-slim":
        return ensure_slim(client, images.ensure(client, "lab:tools"))
    return images.ensure(client, target)
