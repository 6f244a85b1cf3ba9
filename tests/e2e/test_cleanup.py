"""Nothing is left behind: after Ctrl-C mid-run, and after a crash that a later run sweeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import DATA, ROOT, leftovers

pytestmark = pytest.mark.e2e


def _start(run_id: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HARDLAB_RUN_ID": run_id}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(DATA / "slow.toml"), *args]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_for_containers(client, run_id: str, want: int, limit: float = 90) -> list[str]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        names = leftovers(client, run_id)
        if len(names) >= want:
            return names
        time.sleep(0.3)
    pytest.fail(f"run {run_id} never started {want} container(s)")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_ctrl_c_mid_run_leaves_nothing(docker_client, workers) -> None:
    run_id = "e2e-int-" + uuid.uuid4().hex[:6]
    proc = _start(run_id, *workers)
    _wait_for_containers(docker_client, run_id, 2 if workers else 1)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert leftovers(docker_client, run_id) == [], out.decode()[-2000:]


def test_killed_run_is_swept_by_the_next_run(docker_client, run_hardlab) -> None:
    run_id = "e2e-kill-" + uuid.uuid4().hex[:6]
    proc = _start(run_id)
    _wait_for_containers(docker_client, run_id, 1)
    os.killpg(proc.pid, signal.SIGKILL)  # no cleanup code runs: the containers are orphaned
    proc.wait(timeout=30)
    assert leftovers(docker_client, run_id), "expected orphaned containers after kill -9"
    run_hardlab(str(DATA / "valid.toml"))  # any later run sweeps runs whose owner is dead
    assert leftovers(docker_client, run_id) == []
