"""Package inventory from the files a distro keeps: /etc/os-release, dpkg's status, apk's installed db.

Pure parsing over file contents; `read_rootfs` reads them from a folder. Images go through
hardlab.scan.image, which copies the same files out of a stopped container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hardlab.errors import BadInput

# Where each database lives, in the order they are looked for. status.d is distroless' one-file-per-package.
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d"
APK_INSTALLED = "lib/apk/db/installed"
DATABASES = (DPKG_STATUS, DPKG_STATUS_D + "/", APK_INSTALLED)


class NoPackageDatabase(BadInput, LookupError):
    """Neither dpkg nor apk data in the image/rootfs (FROM scratch, distroless without status.d, ...)."""

    def __init__(self, origin: str) -> None:
        looked = ", ".join("/" + p for p in DATABASES)
        super().__init__(f"no package database found in {origin} (looked for {looked})")


@dataclass(frozen=True)
class Package:
    name: str  # binary package
    version: str
    source: str  # Debian source package / Alpine origin: what advisories are keyed by
    source_version: str  # the version advisories compare against
    kind: str  # "dpkg" | "apk"


@dataclass
class Inventory:
    origin: str  # image reference or rootfs path
    distro: str  # os-release ID: debian, ubuntu, alpine, ...
    version_id: str  # os-release VERSION_ID ("12", "3.19.1"); "" when absent (testing/sid)
    pretty_name: str
    kind: str  # "dpkg" | "apk"
    packages: list[Package] = field(default_factory=list)


def parse_os_release(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _paragraphs(text: str) -> list[dict[str, str]]:
    """deb822-style stanzas: `Key: value`, continuation lines start with a space, blank line separates."""
    paras: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                paras.append(current)
            current, last = {}, ""
        elif line[0] in " \t":
            if last:
                current[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            current[last] = value.strip()
    if current:
        paras.append(current)
    return paras


_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")


def parse_dpkg_status(text: str) -> list[Package]:
    """Installed packages only; `Source: name (version)` gives the source version when it differs."""
    pkgs = []
    for para in _paragraphs(text):
        status = para.get("Status", "").split()
        if len(status) != 3 or status[2] != "installed" or "Package" not in para or "Version" not in para:
            continue  # config-files, half-installed, deinstalled: nothing on disk to be vulnerable
        src_name, src_version = para["Package"], para["Version"]
        m = _SOURCE.match(para.get("Source", ""))
        if m:
            src_name, src_version = m.group(1), m.group(2) or para["Version"]
        pkgs.append(Package(para["Package"], para["Version"], src_name, src_version, "dpkg"))
    return pkgs


def parse_apk_installed(text: str) -> list[Package]:
    """apk's db: `P:` name, `V:` version, `o:` origin (what Alpine's secdb is keyed by)."""
    pkgs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if len(line) > 2 and line[1] == ":":
                fields.setdefault(line[0], line[2:])
        if "P" in fields and "V" in fields:
            pkgs.append(Package(fields["P"], fields["V"], fields.get("o", fields["P"]), fields["V"], "apk"))
    return pkgs


def build_inventory(origin: str, files: dict[str, str]) -> Inventory:
    """From file contents keyed by path relative to / (status.d entries keyed `var/lib/dpkg/status.d/<f>`)."""
    osr: dict[str, str] = {}
    for path in OS_RELEASE:
        if path in files:
            osr = parse_os_release(files[path])
            break
    status_d = [v for k, v in sorted(files.items()) if k.startswith(DPKG_STATUS_D + "/")]
    if DPKG_STATUS in files or status_d:
        kind = "dpkg"
        packages = parse_dpkg_status(files.get(DPKG_STATUS, "") + "\n\n" + "\n\n".join(status_d))
    elif APK_INSTALLED in files:
        kind = "apk"
        packages = parse_apk_installed(files[APK_INSTALLED])
    else:
        raise NoPackageDatabase(origin)
    distro = osr.get("ID", "debian" if kind == "dpkg" else "alpine")
    return Inventory(origin, distro, osr.get("VERSION_ID", ""), osr.get("PRETTY_NAME", distro), kind, packages)


def read_rootfs(root: str | Path) -> Inventory:
    """Inventory of an unpacked root filesystem (debootstrap target, `docker export` untarred, ...)."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: not a directory (expected an image name or a rootfs folder)")
    files: dict[str, str] = {}
    for rel in (*OS_RELEASE, DPKG_STATUS, APK_INSTALLED):
        path = base / rel
        # Resolve symlinks inside the rootfs, not on the host (/etc/os-release -> ../usr/lib/os-release).
        if path.is_symlink():
            target = Path(path.readlink())
            path = (base / target.relative_to("/")) if target.is_absolute() else path.parent / target
        if path.is_file():
            files[rel] = path.read_text(encoding="utf-8", errors="replace")
    status_d = base / DPKG_STATUS_D
    if status_d.is_dir():
        for entry in sorted(status_d.iterdir()):
            if entry.is_file() and not entry.name.endswith(".md5sums"):
                files[f"{DPKG_STATUS_D}/{entry.name}"] = entry.read_text(encoding="utf-8", errors="replace")
    return build_inventory(str(base), files)
