"""AppArmor profiles of the labs: their names, compiling them (no kernel needed), loading them, reading back.

Errors name the profile file and carry apparmor_parser's own message. The text handling is pure; the
functions that run apparmor_parser say so in their names.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from hardlab.errors import BadInput

PARSER = "apparmor_parser"
ENABLED = Path("/sys/module/apparmor/parameters/enabled")
PROFILES = Path("/sys/kernel/security/apparmor/profiles")
DOCKER_DEFAULT = "docker-default"  # the engine's own profile, loaded by dockerd on first use
# Noise apparmor_parser prints on a kernel without AppArmor; it says nothing about the profile.
_NOISE = re.compile(r"^(Cache read/write disabled|Warning: unable to find a suitable fs in /proc/mounts)")
# `profile NAME ...{` or an attachment-named profile `/usr/bin/nmap ... {` at the start of a line.
_HEADER = re.compile(r"^\s*(?:profile\s+(\S+)|(/\S+))(?:\s+\S+)*?\s*(?:flags\s*=\s*\([^)]*\)\s*)?\{", re.MULTILINE)


class ProfileError(BadInput):
    """A profile could not be compiled or loaded; the message names the file and the parser's reason."""


def profile_names(text: str) -> list[str]:
    """The profile names a file defines (what `--security-opt apparmor=NAME` and aa-status use)."""
    names = []
    for line in text.splitlines():
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#include") else ""
        match = _HEADER.match(code)
        if match:
            names.append(match.group(1) or match.group(2))
    return names


def parser_message(stderr: str) -> str:
    """apparmor_parser's reason, without the lines it prints about caches on kernels lacking AppArmor."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not _NOISE.match(ln.strip())]
    return " ".join(lines) or "(apparmor_parser gave no message)"


def error_text(path: Path, action: str, returncode: int, stderr: str) -> str:
    return f"{path}: apparmor_parser could not {action} this profile (exit {returncode}): {parser_message(stderr)}"


def parser_missing_reason() -> str | None:
    if shutil.which(PARSER) is None:
        return "apparmor_parser is not installed (apt-get install apparmor)"
    return None


def kernel_reason() -> str | None:
    """None when this kernel enforces AppArmor; else why not (a skip reason naming the missing LSM)."""
    try:
        enabled = ENABLED.read_text().strip()
    except OSError:
        return "this kernel has no AppArmor LSM (/sys/module/apparmor absent)"
    if enabled != "Y":
        return f"AppArmor is built in but disabled ({ENABLED} = {enabled}; boot with apparmor=1 security=apparmor)"
    if not PROFILES.parent.is_dir():
        return "securityfs is not mounted (/sys/kernel/security/apparmor missing)"
    return None


def run_compile(path: Path) -> None:
    """Compile without loading: works on any host with apparmor_parser, AppArmor kernel or not."""
    _run(path, ["-Q", "-K", "-T"], "compile")


def run_load(path: Path) -> list[str]:
    """Load or replace the file's profiles in the kernel and write the cache (`apparmor_parser -r -W`)."""
    _run(path, ["-r", "-W"], "load")
    return profile_names(path.read_text())


def run_remove(path: Path) -> None:
    """Unload the file's profiles from the kernel (`apparmor_parser -R`)."""
    _run(path, ["-R"], "remove")


def _run(path: Path, flags: list[str], action: str) -> None:
    if not path.is_file():
        raise ProfileError(f"{path}: profile file not found")
    missing = parser_missing_reason()
    if missing:
        raise ProfileError(f"{path}: cannot {action} it: {missing}")
    done = subprocess.run([PARSER, *flags, str(path)], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ProfileError(error_text(path, action, done.returncode, done.stderr))


def loaded(profiles_text: str | None = None) -> dict[str, str]:
    """name -> mode of every profile in the kernel (what aa-status lists)."""
    if profiles_text is None:
        try:
            profiles_text = PROFILES.read_text()
        except OSError:
            return {}
    out = {}
    for line in profiles_text.splitlines():
        match = re.match(r"^(.*\S)\s+\((\w+)\)\s*$", line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def confinement(attr_current: str) -> tuple[str, str | None]:
    """`/proc/PID/attr/current` text -> (profile, mode); 'unconfined' has no mode."""
    text = attr_current.strip().rstrip("\0").strip()
    match = re.match(r"^(.*\S)\s+\((\w+)\)$", text)
    return (match.group(1), match.group(2)) if match else (text, None)
