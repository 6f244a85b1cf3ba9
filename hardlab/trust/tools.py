"""The trust lab's host programs, installed with apt when missing and this is root on Debian (what is missing:
hardlab.system.labtools)."""

from __future__ import annotations

from hardlab.errors import HarnessError
from hardlab.system import apt, labtools


class TrustUnavailable(HarnessError):
    """The host cannot run the lab (missing binary, not root to install it); the text says which."""


def ensure_tools(install: bool = True) -> None:
    """Install Debian's docker-registry/notary/busybox-static when missing (root on Debian only)."""
    if not labtools.has_docker_cli():
        raise TrustUnavailable(labtools.NO_DOCKER_CLI)
    need = labtools.trust_lab_missing()
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
