"""What the trust lab needs on the host: the docker CLI, Debian's docker-registry, notary, openssl and a static
busybox (the image it pushes), installed with apt when missing and this is root on Debian."""

from __future__ import annotations

import shutil
from pathlib import Path

from hardlab.errors import HarnessError
from hardlab.system import apt

PACKAGES = {"docker-registry": "docker-registry", "notary-server": "notary", "openssl": "openssl"}  # binary: package
BUSYBOX = Path("/bin/busybox")
NO_CLI = "content-trust lab needs the docker CLI (content trust lives in the CLI)"


class TrustUnavailable(HarnessError):
    """The host cannot run the lab (missing binary, not root to install it); the text says which."""


def is_static(binary: Path) -> bool:
    # A dynamic ELF names its loader near the start of the file; a FROM-scratch image has no loader.
    with binary.open("rb") as fh:
        head = fh.read(65536)
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head and b"ld-musl" not in head


def missing_tools() -> list[str]:
    """Debian package names still needed for the lab."""
    need = [pkg for binary, pkg in PACKAGES.items() if shutil.which(binary) is None]
    if not (BUSYBOX.exists() and is_static(BUSYBOX)):
        need.append("busybox-static")
    return need


def unavailable_reason(install: bool = True) -> str | None:
    """None when the lab can run here (tools present, or root on Debian to install them); else why not.

    For a host probe / `requires = ["trust-lab"]`: it installs nothing itself."""
    if shutil.which("docker") is None:
        return NO_CLI
    need = missing_tools()
    if need and not (install and apt.can_install()):
        return f"content-trust lab needs Debian packages {' '.join(need)} and this is not root on Debian"
    return None


def ensure_tools(install: bool = True) -> None:
    """Install Debian's docker-registry/notary/busybox-static when missing (root on Debian only)."""
    if shutil.which("docker") is None:
        raise TrustUnavailable(NO_CLI)
    need = missing_tools()
    if not need:
        return
    if not install or not apt.can_install():
        raise TrustUnavailable(
            f"content-trust lab needs Debian packages {' '.join(need)}; not root on Debian, so not "
            f"installing them (run: sudo apt-get install {' '.join(need)})"
        )
    try:
        apt.install(need)
    except apt.AptError as exc:
        raise TrustUnavailable(str(exc)) from None
