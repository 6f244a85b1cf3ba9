"""A pytest plugin for the worker-killed fault test (`-p mark_worker`): each xdist worker writes its pid
to $HARDLAB_TEST_PIDS/<case id>.pid when it starts running a case, so the test knows whom to SIGKILL."""

from __future__ import annotations

import os
from pathlib import Path


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    folder = os.environ.get("HARDLAB_TEST_PIDS")
    if folder and os.environ.get("PYTEST_XDIST_WORKER"):
        (Path(folder) / (nodeid.rpartition("::")[2] + ".pid")).write_text(str(os.getpid()))
