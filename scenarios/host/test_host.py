"""Host checks the container pack stands on, read with pytest-testinfra's local backend.

Exercise 11.06 step 1 (`CONFIG_SECCOMP=y` in the kernel config) and the Docker socket's owner and
mode. Modes are compared as permission bits, never as decimal numbers (docker-bench-security 3.16
compared 660 and 0o660 as strings and misjudged hosts).
"""

from __future__ import annotations

import os
import platform
import stat

import pytest

pytestmark = [pytest.mark.host]


def kernel_config(host) -> tuple[str, str]:
    """The running kernel's build config text and where it came from, or skip naming the feature."""
    boot = host.file(f"/boot/config-{platform.release()}")
    if boot.exists:
        return boot.content_string, boot.path
    if host.file("/proc/config.gz").exists:
        return host.check_output("zcat /proc/config.gz"), "/proc/config.gz"
    pytest.skip(
        f"host lacks 'kernel-config': neither /boot/config-{platform.release()} nor /proc/config.gz is readable"
    )


def test_kernel_has_seccomp(host) -> None:
    text, where = kernel_config(host)
    lines = set(text.splitlines())
    # Control: the reader sees a config at all (every container kernel has namespaces).
    assert "CONFIG_NAMESPACES=y" in lines, f"{where} does not look like a kernel config"
    assert "CONFIG_SECCOMP=y" in lines, f"{where}: CONFIG_SECCOMP is not y — the engine cannot filter syscalls"


def test_engine_reports_default_seccomp_profile(hardlab_host) -> None:
    options = hardlab_host.engine["security_options"]
    assert any(opt.startswith("name=seccomp") for opt in options), f"docker info Security Options: {options}"
    profile = next(opt for opt in options if opt.startswith("name=seccomp"))
    assert "profile=default" in profile or "profile=builtin" in profile, (
        f"seccomp profile is not the default: {profile}"
    )


def docker_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.skip(f"host lacks 'local-engine': DOCKER_HOST={host} is not a local socket")
    return host.removeprefix("unix://")


def test_docker_socket_owner_and_mode(host) -> None:
    sock = host.file(docker_socket())
    assert sock.is_socket, f"{sock.path} is not a socket"
    mode = sock.mode
    assert sock.user == "root", f"{sock.path} is owned by {sock.user}, not root (CIS 3.15)"
    assert sock.group in {"root", "docker"}, f"{sock.path} group is {sock.group}, not docker or root (CIS 3.15)"
    # Bits, not decimals: no permission at all for "other", and the owner can read and write.
    assert mode & (stat.S_IRWXO) == 0, (
        f"{sock.path} mode {mode:#o} grants access to others (CIS 3.16: 0o660 or stricter)"
    )
    assert mode & (stat.S_IRUSR | stat.S_IWUSR) == stat.S_IRUSR | stat.S_IWUSR, f"{sock.path} mode {mode:#o}"
