"""Every setting hardlab reads from the environment, and every path it uses. One place, documented.

A setting is read when it is used (a test or a parent process may change the environment), never
copied into a module constant at import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "data"  # package data: lab image recipes and the prober, the VM recipe, the host-audit pack
# A checkout holds the package; an installed hardlab (site-packages) has no project root of its own.
CHECKOUT = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None

# name -> what it does (the README's table of settings is written from this).
SETTINGS: dict[str, str] = {
    "HARDLAB_CACHE": "cache folder for image tarballs and the VM (default ~/.cache/hardlab)",
    "HARDLAB_STATE_DIR": "state of long-lived helpers: the trust lab, dockerd logs (default /var/tmp/hardlab)",
    "HARDLAB_ENGINE_WAIT": "seconds scripts/ensure-engine waits for a dockerd it started to answer (default 90)",
    "HARDLAB_RUN_ID": "the run id put on every container (default: a new one per run)",
    "HARDLAB_REPORTS": "where reports are written (default ./reports)",
    "HARDLAB_RECIPES": "folder of lab image recipes (default: the package's own)",
    "HARDLAB_DOCKER_CLI": "the docker CLI used by host steps and the audit (default docker)",
    "HARDLAB_DEBIAN_MIRROR": "Debian mirror for VM and image builds (default: the host's apt sources)",
    "HARDLAB_DEBIAN_SUITE": "lab VM suite without `hardlab vm --suite`: bookworm (default) or trixie",
    "HARDLAB_VM_STATE": "lab VM state folder (default ./.hardlab/vm, ./.hardlab/vm-trixie)",
    "HARDLAB_VM_BOOT_TIMEOUT": "seconds a VM boot may take before it is killed (default 300)",
    "HARDLAB_VM_JOB_TIMEOUT": "seconds a job in the VM may take (default 3600)",
    "HARDLAB_VM_ACCEL": "force the VM accelerator: kvm or tcg (default: probe)",
    "HARDLAB_VM_CPUS": "VM CPUs (default 2)",
    "HARDLAB_VM_MEMORY_MB": "VM memory in MiB (default 3072)",
    "HARDLAB_VM_DATA_DISK": "0 to boot the VM without its persistent engine data disk",
    "HARDLAB_VM_DISK_SIZE": "size of the VM's root disk image, read by the VM recipe's build.sh (default 6G)",
    "HARDLAB_ORIGIN": "set to vm in every job the lab VM runs: where the results come from",
    "HARDLAB_VM_RUN": "set in every job the lab VM runs: the id of that job's run",
    "HARDLAB_REGISTRY": "printed by `hardlab trust up` for the user's shell: the lab registry's host:port",
    "HARDLAB_PREFETCH": "container cases one pytest process runs at once, ahead of pytest (default 4; 0: one by one)",
    "HARDLAB_BATCH": "0: every probe in an exec of its own (default 1: probes sent to one container at once share one)",
    "HARDLAB_TIMEOUT_SCALE": "factor on every step's timeout, for slow hosts (default 1; the lab VM sets 4 under TCG)",
}


def env(name: str, default: str = "") -> str:
    """A documented setting's value (a typo in a name is a bug, not a silent default)."""
    if name not in SETTINGS:
        raise KeyError(f"undocumented setting {name}")
    return os.environ.get(name, default)


def on_github_actions() -> bool:
    """GitHub Actions sets GITHUB_ACTIONS=true in every step it runs: failed checks are then also printed
    as its workflow commands (annotations). A CI's own variable, not a hardlab setting a user sets."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def cache_dir() -> Path:
    return Path(env("HARDLAB_CACHE") or Path.home() / ".cache" / "hardlab")


def state_dir() -> Path:
    return Path(env("HARDLAB_STATE_DIR") or "/var/tmp/hardlab")


def reports_dir() -> Path:
    return Path(env("HARDLAB_REPORTS") or "reports")


def recipes_dir() -> Path:
    return Path(env("HARDLAB_RECIPES") or DATA / "images")


def project_root() -> Path:
    """The folder a command works in: the checkout when run from one, else the current folder."""
    return CHECKOUT or Path.cwd()


def relative(path: str | Path) -> str:
    """A path as reports show it: relative to the project folder when inside it (portable across checkouts)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(project_root().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def prefetch_threads() -> int:
    value = env("HARDLAB_PREFETCH", "4")
    return int(value) if value.isdigit() else 4


def batch_probes() -> bool:
    return env("HARDLAB_BATCH", "1") != "0"


def timeout_scale() -> float:
    """HARDLAB_TIMEOUT_SCALE as a factor >= 1 (a bad value raises ValueError, never a silent 1)."""
    value = env("HARDLAB_TIMEOUT_SCALE", "1")
    try:
        factor = float(value)
    except ValueError:
        raise ValueError(f"HARDLAB_TIMEOUT_SCALE={value!r} is not a number") from None
    if not 1 <= factor <= 100:
        raise ValueError(f"HARDLAB_TIMEOUT_SCALE={value!r} must be between 1 and 100")
    return factor


def temp_dir() -> Path:
    return Path(tempfile.gettempdir())
