"""Debian packages the labs need (the trust lab's servers, the VM's qemu), installed by apt-get when missing.

Only root on Debian installs; everyone else gets a message naming the packages. One install at a time on
this machine (xdist workers, a trust lab and a VM starting together): the others wait, then find it done.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from hardlab import config
from hardlab.errors import HarnessError
from hardlab.system.locks import file_lock

TAIL = 800  # characters of apt-get's stderr an error keeps
LOCK_WAIT = 600  # seconds apt-get waits for dpkg's lock


class AptError(HarnessError):
    """apt-get could not install the packages; the message ends with its stderr."""


def can_install() -> bool:
    """Root with apt-get on PATH."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def installed(package: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip().endswith(" installed")


def install(packages: list[str]) -> None:
    """`apt-get install --no-install-recommends` those of `packages` dpkg does not list as installed; stale
    package lists (a fresh machine) get one `apt-get update` and a second try. Raises AptError."""
    with file_lock(config.state_dir() / "apt.lock"):
        need = [p for p in packages if not installed(p)]  # another process may have installed them meanwhile
        if not need:
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # Wait for dpkg's lock instead of failing at once: another apt (unattended-upgrades, a second lab) may hold it.
        lock = ["-o", f"DPkg::Lock::Timeout={LOCK_WAIT}"]
        cmd = ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *need]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["apt-get", *lock, "update", "-qq"], env=env, capture_output=True)
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise AptError(f"apt-get install {' '.join(need)} failed: {done.stderr.strip()[-TAIL:]}")
