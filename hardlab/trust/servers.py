"""The lab's server processes on loopback: a free port, a process in its own session, a wait until it answers.

They are stopped with `hardlab.system.processes.stop`, with the lab's state folder as the PID-reuse marker
(it is on every server's command line).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
READY_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Own session: a Ctrl-C aimed at pytest does not kill the servers before our cleanup talks to them.
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, ca: Path | None = None) -> None:
    """Until `url` answers 200 (verifying the lab CA's chain for https); RuntimeError when `proc` exits or
    after READY_TIMEOUT_S."""
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None  # verifies the chain we generated
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            name = proc.args[0] if isinstance(proc.args, list) else proc.args
            raise RuntimeError(f"{name!s} exited with {proc.returncode}: {log.read_text()[-600:]}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=ctx) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {READY_TIMEOUT_S:.0f}s ({last}); log {log}")
