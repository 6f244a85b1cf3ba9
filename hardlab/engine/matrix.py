"""The engine matrix: which Docker Engines and OCI runtimes the pack is run on, and how each is started.

`MATRIX` is pure data (engine name -> dockerd release, OCI runtime, daemon.json). `prepare` turns one
entry into what `dockerd.start` needs: this machine's dockerd when it is that release, else the release's
`.deb` fetched from Debian with a private apt state (`hardlab.system.debian`) and unpacked under
`cache_dir()/engines/`; the runtime's binary, installed from Debian when missing (crun). Nothing is
installed system-wide except a missing runtime package. Every engine is an ephemeral `dockerd` with its
own root, socket and bridge; the main engine is never touched.

crun refuses a "hybrid" cgroup layout whose cgroup2 mount holds a controller (this VM: hugetlb), which
runc accepts. On such a host crun is registered through a wrapper that runs it in a private mount
namespace without /sys/fs/cgroup/unified, so it sees the plain cgroup v1 layout the engine manages
anyway; nothing changes for the host. `Prepared.notes` says so, and every report that names the engine
carries it. `smoke` starts one container: a combination that cannot run one gets the named reason of
`KNOWN_FAILURES` (or the engine's own error).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardlab import config
from hardlab.engine import dockerd, images, labels
from hardlab.engine.probe import host_cgroup_layout
from hardlab.errors import HarnessError
from hardlab.system import debian


class MatrixError(HarnessError):
    """An engine of the matrix cannot be prepared here; the message is the named reason."""


@dataclass(frozen=True)
class Release:
    """A dockerd release shipped by Debian as `docker.io`."""

    key: str  # the cache folder's name: engines/<key>/
    package: debian.Package
    dockerd: str = "usr/sbin/dockerd"  # inside the unpacked .deb
    path: tuple[str, ...] = ("usr/sbin",)  # its docker-proxy first on dockerd's PATH


@dataclass(frozen=True)
class Runtime:
    """An OCI runtime: its binary and the Debian package that provides it."""

    name: str
    binary: str
    package: str


@dataclass(frozen=True)
class EngineSpec:
    name: str
    release: Release
    runtime: Runtime
    daemon: dict[str, Any] = field(default_factory=dict)  # extra daemon.json keys
    note: str = ""


DOCKER_20_10 = Release("docker-20.10.24", debian.Package("docker.io", "20.10.24", "bookworm"))
DOCKER_26_1 = Release("docker-26.1.5", debian.Package("docker.io", "26.1.5", "trixie"))
RUNC = Runtime("runc", "runc", "runc")
CRUN = Runtime("crun", "crun", "crun")

MATRIX: tuple[EngineSpec, ...] = (
    EngineSpec("20.10-runc", DOCKER_20_10, RUNC, note="Debian 12's docker.io with its runc 1.1.5"),
    EngineSpec("20.10-crun", DOCKER_20_10, CRUN, note="Debian 12's docker.io with Debian 12's crun 1.8.1"),
    EngineSpec("26.1-runc", DOCKER_26_1, RUNC, note="Debian 13's docker.io beside Debian 12's containerd and runc"),
    EngineSpec("26.1-crun", DOCKER_26_1, CRUN, note="Debian 13's docker.io with Debian 12's crun 1.8.1"),
)


def weakened(spec: EngineSpec) -> EngineSpec:
    """`spec` with an allow-all default seccomp profile: a deliberately weakened engine the pack must fail on."""
    profile = dockerd.seccomp_allow_all(engines_dir() / "weakened")
    return dataclasses.replace(
        spec, name=f"{spec.name}-weak", daemon={**spec.daemon, "seccomp-profile": str(profile)},
        note=f"{spec.note}; default seccomp profile = allow all (deliberately weakened)",
    )  # fmt: skip


def by_name(name: str) -> EngineSpec:
    for spec in MATRIX:
        if spec.name == name:
            return spec
    raise KeyError(f"no engine {name!r} in the matrix (known: {', '.join(s.name for s in MATRIX)})")


# An engine error a combination is known to end with -> why (with the reference).
KNOWN_FAILURES: tuple[tuple[str, str], ...] = (
    (
        "unknown version specified",
        'this crun accepts only OCI runtime-spec 1.0.x bundles (its check: strstr(ociVersion, "1.0")), and '
        "dockerd 26.1 writes ociVersion 1.2.0 (observed in its config.json) — containers/crun#1485; crun 1.14.x and "
        "later accept it, but Debian 13's crun 1.21 needs GLIBC_2.38 and Debian 12 has 2.36",
    ),
    (
        "cgroups in hybrid mode not supported",
        "crun refuses a hybrid cgroup layout whose cgroup2 mount holds controllers (runc accepts it); "
        "hardlab's private-mount-namespace wrapper was not used",
    ),
)


def known_reason(error: str) -> str | None:
    return next((why for marker, why in KNOWN_FAILURES if marker in error), None)


@dataclass(frozen=True)
class Prepared:
    """What dockerd.start needs for one matrix entry."""

    spec: EngineSpec
    binary: str
    path: tuple[str, ...]
    daemon: dict[str, Any]
    fetched: bool  # the release was unpacked from a fetched .deb (not this machine's dockerd)
    notes: tuple[str, ...] = ()  # how this engine differs from a plain install of it


def engines_dir() -> Path:
    return config.cache_dir() / "engines"


def dockerd_version(binary: str) -> str | None:
    """'26.1.5+dfsg1' from `dockerd --version` ('Docker version 26.1.5+dfsg1, build 411e817')."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"version ([^\s,]+)", out)
    return found.group(1) if found else None


def release_binary(release: Release) -> tuple[str, tuple[str, ...], bool]:
    """(dockerd, PATH folders, fetched): this machine's dockerd if it is `release`, else the fetched one."""
    system = shutil.which("dockerd")
    if system:
        version = dockerd_version(system)
        if version and debian.upstream_of(version) == release.package.upstream:
            return system, (), False
    root = engines_dir() / release.key
    try:
        debian.fetch_unpacked(release.package, root, engines_dir() / f"apt-{release.package.suite}")
    except debian.DebianError as exc:
        raise MatrixError(
            f"Debian's {release.package.name} {release.package.upstream} could not be fetched: {exc}"
        ) from exc
    binary = root / release.dockerd
    if not binary.is_file():
        raise MatrixError(f"{release.package.name} {release.package.upstream} unpacked without {release.dockerd}")
    return str(binary), tuple(str(root / p) for p in release.path), True


def runtime_binary(runtime: Runtime) -> str:
    try:
        return debian.install_host(runtime.package, runtime.binary)
    except debian.DebianError as exc:
        raise MatrixError(f"OCI runtime {runtime.name} is not available: {exc}") from exc


CRUN_WRAPPER = """#!/bin/sh
# Written by hardlab (hardlab.engine.matrix). crun refuses a hybrid cgroup layout whose cgroup2 mount holds
# controllers; run it in a private mount namespace without that mount, so it sees cgroup v1 only.
exec unshare --mount --propagation private /bin/sh -c \
  'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"' {crun} "$@"
"""


def crun_wrapper(crun: str) -> str:
    """The wrapper's path (written once under the engines cache)."""
    if shutil.which("unshare") is None:
        raise MatrixError("crun on this hybrid-cgroup host needs unshare(1) (util-linux) for its wrapper")
    path = engines_dir() / "crun-cgroup1" / "crun"
    text = CRUN_WRAPPER.format(crun=crun)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.rename(path)
    return str(path)


def prepare(spec: EngineSpec) -> Prepared:
    """Fetch/unpack the release and install the runtime when needed (cached: later calls do nothing)."""
    binary, path, fetched = release_binary(spec.release)
    daemon = dict(spec.daemon)
    notes: list[str] = []
    if spec.runtime is not RUNC:  # runc is dockerd's built-in default; any other runtime is registered
        runtime = runtime_binary(spec.runtime)
        layout = host_cgroup_layout()
        if spec.runtime is CRUN and layout.mode == "hybrid" and layout.v2_controllers:
            runtime = crun_wrapper(runtime)
            notes.append(
                f"crun runs through {runtime}: this host's cgroups are {layout.describe}, which crun refuses; "
                "the wrapper hides /sys/fs/cgroup/unified in a private mount namespace"
            )
        daemon.update(dockerd.runtime_config(spec.runtime.name, runtime))
    elif shutil.which(RUNC.binary) is None:
        raise MatrixError("OCI runtime runc is not on PATH (install Debian's runc)")
    return Prepared(spec, binary, path, daemon, fetched, tuple(notes))


def smoke(engine: dockerd.Engine, timeout: float = 60) -> str | None:
    """Run one labelled container on `engine`: None when it ran, else why not (a named reason if known)."""
    import docker.errors

    client = engine.client()
    try:
        image = images.ensure(client, "lab:busybox")
        out = client.containers.run(
            image, ["echo", "hardlab-smoke"], remove=True,
            labels=labels.for_run("matrix-smoke", labels.owner(), f"smoke {engine.name}"),
        )  # fmt: skip
    except (docker.errors.DockerException, images.ImageError) as exc:
        error = str(getattr(exc, "explanation", None) or exc)
        why = known_reason(error)
        return f"{why} [engine said: {error.strip()[:200]}]" if why else error.strip()[:400]
    finally:
        client.close()
    return None if b"hardlab-smoke" in out else f"the smoke container printed {out[:100]!r}"


def start(prepared: Prepared, timeout: float = 90.0) -> tuple[dockerd.Engine, Any]:
    """Start the prepared engine as an ephemeral dockerd (own root, socket, bridge). stop() with both."""
    return dockerd.start(
        f"matrix-{prepared.spec.name}", prepared.daemon, timeout, binary=prepared.binary, path=prepared.path
    )


@contextlib.contextmanager
def running(spec: EngineSpec) -> Iterator[dockerd.Engine]:
    """The matrix engine `spec` for the duration of the block, stopped however the block ends."""
    prepared = prepare(spec)
    with dockerd.running(f"matrix-{spec.name}", prepared.daemon, binary=prepared.binary, path=prepared.path) as engine:
        yield engine
