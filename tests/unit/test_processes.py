"""hardlab.system.processes on real child processes: the PID-reuse marker check, SIGTERM then SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from hardlab.system import processes

IGNORES_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)


def _python(code: str, marker: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code, marker], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def test_stop_never_signals_a_process_without_the_marker() -> None:
    marker = f"hardlab-test-{uuid.uuid4().hex}"
    proc = _python(IGNORES_TERM.replace("signal.SIG_IGN", "signal.SIG_DFL"), marker)
    try:
        assert processes.is_ours(proc.pid, marker) and processes.matching(marker) == [proc.pid]
        assert processes.stop(proc.pid, marker + "-other") is False
        assert proc.poll() is None  # control: still running, so the check above proved something
        assert processes.stop(proc.pid, marker, grace_s=5) is True
        assert not processes.alive(proc.pid) and processes.matching(marker) == []
    finally:
        proc.kill()
        proc.wait()


def test_a_process_that_ignores_sigterm_gets_sigkill_after_the_grace() -> None:
    marker = f"hardlab-test-{uuid.uuid4().hex}"
    proc = _python(IGNORES_TERM, marker)
    try:
        started = time.monotonic()
        assert processes.stop(proc.pid, marker, grace_s=0.3) is True
        assert not processes.alive(proc.pid)
        assert 0.3 <= time.monotonic() - started < 5
        assert processes.wait_gone(proc.pid, 0)  # gone already: no wait
    finally:
        proc.kill()
        proc.wait()


def test_stop_child_and_wait_gone() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    assert processes.wait_gone(proc.pid, 0.2) is False  # control: it runs
    processes.stop_child(proc, grace_s=2)
    assert proc.poll() is not None and processes.wait_gone(proc.pid, 0)
    processes.stop_child(proc)  # a second stop of a reaped child does nothing
