"""Labels on everything hardlab creates, so sweeps find exactly its own objects."""

from __future__ import annotations

import os
import socket
import time
import uuid

from hardlab import config

KEY = "hardlab"  # value "1" on every container, network and image hardlab makes
IMAGE_KEY = KEY
RUN = "hardlab.run"  # the run that made it
OWNER = "hardlab.owner"  # host:pid of the process that owns the run (dead owner = leftover)
CASE = "hardlab.case"


def new_run_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def for_run(run_id: str, owner_id: str, case: str = "") -> dict[str, str]:
    out = {KEY: "1", RUN: run_id, OWNER: owner_id}
    if case:
        out[CASE] = case[:200]
    return out


def for_current_run() -> dict[str, str]:
    """Labels for something this process makes outside a case: the harness's run (HARDLAB_RUN_ID) when one
    set it, else a run of its own; owner = this process."""
    return for_run(config.env("HARDLAB_RUN_ID") or new_run_id(), owner())


def owner_alive(owner_id: str) -> bool:
    """Whether the owning process still runs. Owners on other hosts count as alive: not ours to judge."""
    host, _, pid = owner_id.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
