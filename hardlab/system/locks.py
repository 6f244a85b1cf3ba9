"""One exclusive lock across processes on this machine (xdist workers, concurrent runs)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, holder: str = "", on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created with its folder); closing the file releases it.

    `holder` says what the holder does; it is written into the file (with the pid) while the lock is held,
    and a process that finds the lock taken is told it through `on_wait` before it waits, so a person sees
    "waiting for another hardlab's build of lab:tools (pid 4242)" instead of silence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not truncated: the holder's note stays readable
    with os.fdopen(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                handle.seek(0)
                on_wait(handle.read(500).strip())
            fcntl.flock(handle, fcntl.LOCK_EX)
        if holder:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()} {holder}\n")
            handle.flush()
        try:
            yield
        finally:
            if holder:  # a note left behind would name a process that holds nothing
                handle.seek(0)
                handle.truncate()


def holder_text(note: str) -> tuple[int | None, str]:
    """A held lock's note ("PID WHAT") as (pid, what); (None, "") when the holder left none."""
    pid, _, what = note.partition(" ")
    return (int(pid), what.strip()) if pid.isdigit() else (None, "")
