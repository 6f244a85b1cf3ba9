"""Run inside the lab VM: report what the guest kernel and engine are, for reports/vm/guest-facts.json."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
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
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "cmdline": _read("/proc/cmdline"),
        "lsm": _read("/sys/kernel/security/lsm"),
        "apparmor_enabled": _read("/sys/module/apparmor/parameters/enabled"),
        "engine_version": info.get("ServerVersion"),
        "security_options": info.get("SecurityOptions"),
        "cgroup_version": info.get("CgroupVersion"),
        "python": platform.python_version(),
    }


def main(argv: list[str]) -> int:
    if argv[:1] != ["facts"]:
        print("usage: python3 -m hardlab.vm.guest facts", file=sys.stderr)
        return 2
    print(json.dumps(facts(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
