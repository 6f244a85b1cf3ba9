"""Processes hardlab started and must stop: one PID-reuse check, one SIGTERM-then-SIGKILL, one wait.

PIDs get recycled, so a PID read from a state file is only signalled while the process's command line still
names something of ours (a state folder, a data root, a QMP socket): its *markers*.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

POLL_S = 0.05
KILL_WAIT_S = 5.0  # after SIGKILL: the kernel needs a moment to tear a big process down


def command_line(pid: int) -> str | None:
    """The process's arguments joined by spaces; None when it is gone (a zombie's is empty)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_ours(pid: int, *markers: str) -> bool:
    """Whether `pid` runs and its command line contains every one of `markers` (the PID-reuse check)."""
    line = command_line(pid)
    if not line:
        return False
    return all(m in line for m in markers)


def matching(*markers: str) -> list[int]:
    """PIDs of every process whose command line contains all of `markers`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_ours(int(entry.name), *markers):
            found.append(int(entry.name))
    return found


def _reaped(pid: int) -> bool:
    # A zombie child of ours is gone for every purpose but the process table: reap it.
    with contextlib.suppress(ChildProcessError):
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    return False


def alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (a zombie child of ours is reaped here)."""
    if _reaped(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status and "State:\tX" not in status  # zombie or dead: gone


def wait_gone(pid: int, seconds: float, *markers: str) -> bool:
    """Wait up to `seconds` for `pid` to end (or, given markers, to become another program); True when it did."""
    deadline = time.monotonic() + seconds
    while True:
        if not alive(pid):
            return True
        line = command_line(pid)
        # An exiting process shows an empty command line for a moment: only a different one means PID reuse.
        if markers and line and not all(m in line for m in markers):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def stop(pid: int, *markers: str, grace_s: float = 5.0, group: bool = False) -> bool:
    """SIGTERM, then SIGKILL after `grace_s`, a process of ours; True when it was running (and ours).

    `markers` guard against PID reuse (see `is_ours`); a child process of this one needs none. `group`
    sends the SIGKILL to its process group as well (a daemon started in its own session, with children)."""
    if not is_ours(pid, *markers):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_gone(pid, grace_s, *markers):
        return True
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    wait_gone(pid, KILL_WAIT_S, *markers)
    return True


def stop_child(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """`stop` for a process this one started: its PID cannot be reused before it is reaped."""
    if proc.poll() is None:
        stop(proc.pid, grace_s=grace_s)
    proc.poll()
