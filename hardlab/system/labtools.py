"""Host programs the content-trust lab runs (docker CLI, registry, notary, openssl, a static busybox): are they
here, and if not, could they be installed. Facts about the host only: installing is hardlab.system.apt, the
lab's own use is hardlab.trust.tools, and the probe reports `trust-lab` from here."""

from __future__ import annotations

import shutil
from pathlib import Path

from hardlab.system import apt

TRUST_PACKAGES = {"docker-registry": "docker-registry", "notary-server": "notary", "openssl": "openssl"}  # bin: pkg
BUSYBOX = Path("/bin/busybox")  # copied into the images the trust lab pushes: must be static
NO_DOCKER_CLI = "content-trust lab needs the docker CLI (content trust lives in the CLI)"


def is_static(binary: Path) -> bool:
    # A dynamic ELF names its loader near the start of the file; a FROM-scratch image has no loader.
    with binary.open("rb") as fh:
        head = fh.read(65536)
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head and b"ld-musl" not in head


def has_docker_cli() -> bool:
    return shutil.which("docker") is not None


def trust_lab_missing() -> list[str]:
    """Debian package names still needed for the trust lab."""
    need = [pkg for binary, pkg in TRUST_PACKAGES.items() if shutil.which(binary) is None]
    if not (BUSYBOX.exists() and is_static(BUSYBOX)):
        need.append("busybox-static")
    return need


def trust_lab_unavailable(install: bool = True) -> str | None:
    """None when the trust lab can run here (tools present, or root on Debian to install them); else why not.

    For a host probe / `requires = ["trust-lab"]`: it installs nothing itself."""
    if not has_docker_cli():
        return NO_DOCKER_CLI
    need = trust_lab_missing()
    if need and not (install and apt.can_install()):
        return f"content-trust lab needs Debian packages {' '.join(need)} and this is not root on Debian"
    return None
