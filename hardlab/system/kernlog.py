"""The kernel's audit records since a mark: /dev/kmsg (where the kernel prints audit records when no auditd
runs) and auditd's log file, each read from where it ended when the mark was taken, so older lines never
count. `unlimited_printk` lifts the printk rate limit while recording: without auditd the kernel prints
audit records through printk_ratelimit() (10 lines per 5 s by default) and drops the rest.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KMSG = Path("/dev/kmsg")
AUDIT_LOG = Path("/var/log/audit/audit.log")
RATELIMIT = Path("/proc/sys/kernel/printk_ratelimit")
_READ_CAP = 64 * 1024 * 1024  # an audit log read since the mark is bounded


@dataclass
class Mark:
    """Where each source ended when the mark was taken; `problems` says why a source could not be used."""

    kmsg_fd: int | None = None
    audit_offset: int | None = None
    problems: list[str] = field(default_factory=list)
    kmsg: Path = KMSG
    audit_log: Path = AUDIT_LOG

    def close(self) -> None:
        if self.kmsg_fd is not None:
            os.close(self.kmsg_fd)
            self.kmsg_fd = None


def mark(kmsg: Path = KMSG, audit_log: Path = AUDIT_LOG) -> Mark:
    out = Mark(kmsg=kmsg, audit_log=audit_log)
    try:
        fd = os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(fd, 0, os.SEEK_END)
        out.kmsg_fd = fd
    except OSError as exc:
        out.problems.append(f"{kmsg}: {exc.strerror} (reading the kernel log needs root or CAP_SYSLOG)")
    with contextlib.suppress(OSError):  # no auditd: the records are in the kernel log
        out.audit_offset = audit_log.stat().st_size
    return out


def since(m: Mark) -> dict[str, list[str]]:
    """source -> the lines it got since the mark (`/dev/kmsg`: the message part of each record)."""
    out: dict[str, list[str]] = {}
    if m.kmsg_fd is not None:
        lines = []
        while True:
            try:
                record = os.read(m.kmsg_fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten before they were read: go on with the next
                    lines.append("hardlab: kmsg records were overwritten before they were read")
                    continue
                raise
            if not record:
                break
            text = record.decode("utf-8", errors="replace")
            lines.append(text.split(";", 1)[1].split("\n", 1)[0] if ";" in text else text.rstrip("\n"))
        out[str(m.kmsg)] = lines
    if m.audit_offset is not None:
        try:
            with open(m.audit_log, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(m.audit_offset if size >= m.audit_offset else 0)  # rotated: read the new file whole
                out[str(m.audit_log)] = f.read(_READ_CAP).decode("utf-8", errors="replace").splitlines()
        except OSError as exc:
            out[str(m.audit_log)] = [f"hardlab: {m.audit_log}: {exc.strerror}"]
    return out


@contextlib.contextmanager
def unlimited_printk(path: Path = RATELIMIT) -> Iterator[str | None]:
    """Set kernel.printk_ratelimit to 0 (no limit) and restore it; yields why it could not, or None."""
    try:
        before = path.read_text().strip()
        path.write_text("0\n")
    except OSError as exc:
        yield f"{path} kept ({exc.strerror}): the kernel may drop audit records beyond 10 per 5 s"
        return
    try:
        yield None
    finally:
        with contextlib.suppress(OSError):
            path.write_text(before + "\n")
