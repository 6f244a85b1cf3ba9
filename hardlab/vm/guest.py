"""Inside the lab VM: what the guest kernel and engine are, for reports/vm/guest-facts.json.

The guest job runs it as `python3 -m hardlab.cli.guest facts` (it has no `hardlab` script, only the project).
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def facts() -> dict[str, object]:
    docker = subprocess.run(
        ["docker", "info", "--format", "{{json .}}"], capture_output=True, text=True, timeout=60, check=False
    )
    info = json.loads(docker.stdout) if docker.returncode == 0 and docker.stdout.strip() else {}
    release = dict(
        line.split("=", 1) for line in (_read("/etc/os-release") or "").splitlines() if "=" in line
    )
    return {
        "hostname": platform.node(),
        "os": release.get("PRETTY_NAME", "").strip('"') or None,
        "kernel": platform.release(),
        "cmdline": _read("/proc/cmdline"),
        "lsm": _read("/sys/kernel/security/lsm"),
        "apparmor_enabled": _read("/sys/module/apparmor/parameters/enabled"),
        "engine_version": info.get("ServerVersion"),
        "security_options": info.get("SecurityOptions"),
        "cgroup_version": info.get("CgroupVersion"),
        "runtimes": sorted(info.get("Runtimes") or {}),
        "default_runtime": info.get("DefaultRuntime"),
        "python": platform.python_version(),
    }
