"""A pytest plugin for the worker-killed fault test (`-p mark_worker`): each xdist worker writes its pid
to $HARDLAB_TEST_PIDS/<case id>.pid when it starts running a case, so the test knows whom to SIGKILL.

A worker is told apart from the controller by `config.workerinput`, not by PYTEST_XDIST_WORKER: the fault
test itself runs inside an outer xdist worker, whose PYTEST_XDIST_WORKER the inner controller inherits
(the controller would then write its own pid, and the test would kill the controller instead)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

IS_WORKER = False


def pytest_configure(config: Any) -> None:
    global IS_WORKER
    IS_WORKER = hasattr(config, "workerinput")


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    folder = os.environ.get("HARDLAB_TEST_PIDS")
    if folder and IS_WORKER:
        (Path(folder) / (nodeid.rpartition("::")[2] + ".pid")).write_text(str(os.getpid()))
