"""Debian packages without touching the system's apt: fetch one `.deb` of another suite and unpack it.

`fetch` runs apt with a private sources list, state and cache under a folder of its own (nothing in
/etc/apt or /var/lib/apt is read or written, nothing is installed), signed by Debian's archive keyring.
`unpack` extracts a `.deb` with `dpkg-deb -x` into a folder that appears whole or not at all.
`install_host` makes a runtime's binary available (e.g. crun), installing it through hardlab.system.apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hardlab import config
from hardlab.errors import HarnessError
from hardlab.system import apt
from hardlab.system.locks import file_lock

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class DebianError(HarnessError):
    """A Debian package could not be fetched, unpacked or installed; the message says which and why."""


@dataclass(frozen=True)
class Package:
    """One Debian binary package of one upstream version, e.g. docker.io 26.1.5 from trixie."""

    name: str
    upstream: str  # the upstream version: any Debian revision of it is accepted ("26.1.5" ~ 26.1.5+dfsg1-9)
    suite: str
    component: str = "main"
    arch: str = "amd64"


def mirror_url() -> str:
    """HARDLAB_DEBIAN_MIRROR, else the Debian mirror this host's apt already uses, else deb.debian.org."""
    mirror = config.env("HARDLAB_DEBIAN_MIRROR")
    if mirror:
        return mirror
    for source in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in source.read_text(errors="replace").splitlines():
            if line.startswith("URIs:") and "security" not in line and "debian" in line:
                return line.split()[1]
    return DEFAULT_MIRROR


def upstream_of(version: str) -> str:
    """The upstream part of a Debian version: '26.1.5+dfsg1-9+deb13u1+b1' -> '26.1.5' (epoch, +dfsg, -rev cut)."""
    version = version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    for sep in ("+", "~"):
        version = version.split(sep, 1)[0]
    return version


def pick_version(versions: list[str], upstream: str) -> str | None:
    """The first (apt's preferred) Debian version whose upstream part is exactly `upstream`."""
    return next((v for v in versions if upstream_of(v) == upstream), None)


def apt_options(work: Path) -> list[str]:
    return [
        "-o", f"Dir::Etc::SourceList={work / 'sources.list'}", "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", "Dir::Etc::Preferences=/dev/null", "-o", "Dir::Etc::PreferencesParts=/dev/null",
        "-o", f"Dir::State={work / 'state'}", "-o", f"Dir::State::status={work / 'state' / 'status'}",
        "-o", f"Dir::Cache={work / 'cache'}", "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
        "-o", "Acquire::Languages=none", "-q",
    ]  # fmt: skip


def _apt(tool: str, work: Path, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
    cmd = [tool, *apt_options(work), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DebianError(f"{tool} {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise DebianError(f"{tool} {' '.join(args)} (private apt state {work}) failed:\n{tail}")
    return done.stdout


def fetch(package: Package, work: Path, mirror: str | None = None) -> Path:
    """Download `package`'s .deb into `work`/debs with a private apt configuration; returns its path.

    A .deb already there for that upstream version is returned without asking the mirror."""
    debs = work / "debs"
    cached = sorted(debs.glob(f"{package.name}_*_{package.arch}.deb")) if debs.is_dir() else []
    for deb in cached:
        if upstream_of(deb.name.split("_")[1].replace("%3a", ":")) == package.upstream:
            return deb
    if shutil.which("apt-get") is None:
        raise DebianError(f"fetching {package.name} {package.upstream} needs apt-get (a Debian/Ubuntu host)")
    if not KEYRING.is_file():
        raise DebianError(f"fetching {package.name} needs Debian's archive keyring {KEYRING} (debian-archive-keyring)")
    mirror = mirror or mirror_url()
    for sub in ("state/lists/partial", "cache/archives/partial", "debs"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    (work / "state" / "status").touch()
    (work / "sources.list").write_text(
        f"deb [arch={package.arch} signed-by={KEYRING}] {mirror} {package.suite} {package.component}\n"
    )
    _apt("apt-get", work, "update")
    shown = _apt("apt-cache", work, "show", package.name)
    versions = [line.split(":", 1)[1].strip() for line in shown.splitlines() if line.startswith("Version:")]
    version = pick_version(versions, package.upstream)
    if version is None:
        raise DebianError(
            f"{mirror} {package.suite} has no {package.name} {package.upstream} "
            f"(it has: {', '.join(versions) or 'none'})"
        )
    _apt("apt-get", work, "download", f"{package.name}={version}", cwd=debs)
    shutil.rmtree(work / "state" / "lists", ignore_errors=True)  # ~20 MB of package lists, of no further use
    found = sorted(debs.glob(f"{package.name}_*_{package.arch}.deb"))
    for deb in found:
        if upstream_of(deb.name.split("_")[1].replace("%3a", ":")) == package.upstream:
            return deb
    raise DebianError(f"apt-get download {package.name}={version} left no .deb in {debs}")


def unpack(deb: Path, dest: Path) -> Path:
    """`dpkg-deb -x deb dest`, atomically: a half-unpacked folder never looks like a finished one."""
    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + f".partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    done = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DebianError(f"dpkg-deb -x {deb}: {done.stderr.strip()}")
    tmp.rename(dest)
    return dest


def fetch_unpacked(package: Package, dest: Path, work: Path, mirror: str | None = None) -> Path:
    """`package` unpacked into `dest` (fetched once; later calls only check that `dest` exists)."""
    if dest.is_dir():
        return dest
    with file_lock(work / "fetch.lock"):
        if dest.is_dir():  # another process finished it while we waited
            return dest
        return unpack(fetch(package, work, mirror), dest)


def install_host(name: str, binary: str) -> str:
    """Make `binary` available on this machine by installing the Debian package `name` (root only, through
    hardlab.system.apt). Returns the binary's path. Already on PATH: nothing is done."""
    found = shutil.which(binary)
    if found:
        return found
    if not apt.can_install():
        raise DebianError(
            f"{binary} is not installed and cannot be installed here (needs root and apt-get): apt-get install {name}"
        )
    try:
        apt.install([name])
    except apt.AptError as exc:
        raise DebianError(str(exc)) from exc
    found = shutil.which(binary)
    if not found:
        raise DebianError(f"apt-get install {name} did not provide {binary}")
    return found
