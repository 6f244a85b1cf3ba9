"""End-to-end helpers: run hardlab the way a user does (a pytest process) against the real engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A job started in the background by a non-interactive shell (`cmd &`, nohup, some CI runners) inherits
# SIGINT ignored, and an ignored signal stays ignored across exec: the Ctrl-C tests' children would never
# see their SIGINT. A handler of our own is reset to the default on exec, so the children can be interrupted.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
DATA = Path(__file__).resolve().parent / "data"


@dataclass
class Outcome:
    code: int
    output: str
    summary: dict[str, Any]
    run_id: str
    peak_rss_kb: int = 0  # the run's own peak RSS (and its children's), measured by a parent of its own

    def result(self, case: str) -> dict[str, Any]:
        return next(r for r in self.summary["results"] if r["nodeid"].endswith("::" + case))


@pytest.fixture
def run_hardlab(tmp_path: Path):
    """Run pytest with the hardlab plugin on the given paths; return exit code, output, summary."""

    def run(*args: str, timeout: int = 300, env: dict[str, str] | None = None) -> Outcome:
        run_id = "e2e-" + uuid.uuid4().hex[:8]
        report = tmp_path / "summary.json"
        env = {**os.environ, "HARDLAB_RUN_ID": run_id, **(env or {})}
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--hardlab-report={report}", *args]
        # A parent of its own, so RUSAGE_CHILDREN is this run's alone (this worker has run other children).
        rss = tmp_path / f"rss-{run_id}"
        wrapper = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
                   "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
                   "sys.exit(code)")  # fmt: skip
        done = subprocess.run([sys.executable, "-c", wrapper, str(rss), *cmd], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        summary = json.loads(report.read_text()) if report.is_file() else {}
        peak = int(rss.read_text()) if rss.is_file() else 0
        return Outcome(done.returncode, done.stdout + done.stderr, summary, run_id, peak)

    return run


@pytest.fixture(scope="session")
def docker_client():
    from hardlab.engine.client import EngineError, connect

    try:
        return connect()
    except EngineError as exc:
        pytest.fail(f"e2e tests need a Docker Engine (make test starts one): {exc}")


def leftovers(client: Any, run_id: str) -> list[str]:
    found = client.containers.list(all=True, sparse=True, filters={"label": f"hardlab.run={run_id}"})
    return [c.id[:12] for c in found]
