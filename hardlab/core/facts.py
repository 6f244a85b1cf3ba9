"""The engine facts expectations depend on, decoded from what the engine probe saw (pure: no I/O).

`hardlab.engine.probe` runs the containers and reads the files; this module turns their raw answers
into facts with names: the engine and OCI runtime versions, the kernel, the cgroup layout, the
default seccomp profile's generation *measured by behaviour* (which of moby's profile changes this
engine carries), the syscall ABIs the kernel accepts, and what `--privileged` grants (the engine's
own bounding set, decoded by name).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from hardlab.spec import caps
from hardlab.spec.facts import version_tuple as version_tuple  # one version parser: the rules' own

# -- versions ---------------------------------------------------------------------------------------------------


def runtime_version(output: str) -> str | None:
    """'1.8.1' from `crun --version` ('crun version 1.8.1') or `runc --version` ('runc version 1.1.5+ds1')."""
    found = re.search(r"^\S+ version (\d\S*)", output, re.MULTILINE)
    return found.group(1) if found else None


def runtime_from_engine(info: dict[str, Any], version: dict[str, Any]) -> tuple[str | None, str | None]:
    """(name, version) of the engine's default OCI runtime, from `docker info` and `docker version`.

    /version lists the runtime that serves containers as a component (`runc` 1.1.5, `crun` 1.8.1); a
    runtime the engine cannot query has no component, and then its version stays unknown."""
    name = info.get("DefaultRuntime")
    components = {c.get("Name"): c.get("Version") for c in version.get("Components") or [] if isinstance(c, dict)}
    known = ("runc", "crun", "youki", "runsc", "kata-runtime")
    found = next((n for n in known if n in components), None)
    if name in components:
        return name, components[name]
    if found and name in (None, "runc", "io.containerd.runc.v2"):
        return found, components[found]
    if found and name not in components:
        # A runtime registered under another name (e.g. "crun" at a wrapper path) reports as itself.
        return name or found, components[found]
    return name, None


# -- cgroups ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLayout:
    mode: str  # "unified" (v2 only), "hybrid" (v1 controllers + a cgroup2 mount), "legacy" (v1 only), "unknown"
    v2_controllers: tuple[str, ...] = ()  # controllers the cgroup2 hierarchy holds (hybrid: should be none)

    @property
    def describe(self) -> str:
        if self.mode == "hybrid" and self.v2_controllers:
            return f"hybrid, cgroup2 at /sys/fs/cgroup/unified holds controllers: {' '.join(self.v2_controllers)}"
        return self.mode


def cgroup_layout(mounts: str, unified_controllers: str | None) -> CgroupLayout:
    """The host's cgroup layout from /proc/mounts and /sys/fs/cgroup/unified/cgroup.controllers."""
    types = {}
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            types[parts[1]] = parts[2]
    root = types.get("/sys/fs/cgroup")
    if root == "cgroup2":
        return CgroupLayout("unified")
    if root is None:
        return CgroupLayout("unknown")
    if types.get("/sys/fs/cgroup/unified") == "cgroup2":
        return CgroupLayout("hybrid", tuple((unified_controllers or "").split()))
    return CgroupLayout("legacy")


# -- the default seccomp profile, measured ----------------------------------------------------------------------

# What hardlab-probe answers in a default container, per marker, and which moby change it shows.
# (allowed errnos are those of the kernel reaching the call; EPERM/ENOSYS are the filter's.)
PROFILE_MARKERS: dict[str, tuple[str, str]] = {
    "socket": (
        "AF_VSOCK socket refused",
        "moby#44562 (23.0 and later); on 20.10 only in 20.10.22 (moby#44564, reverted in 20.10.23 by moby#44712)",
    ),
    "process_vm_readv": (
        "process_vm_readv/writev allowed",
        "moby#42083 (23.0; kernels >= 4.8; the 20.10 backport moby#44565 was closed unmerged)",
    ),
    "name_to_handle_at": (
        "name_to_handle_at allowed",
        "moby#45766 + moby#45837 (25.0; backports moby#45833 24.0, moby#45834 23.0, moby#45835 20.10.26)",
    ),
    "clone3": ("clone3 answers ENOSYS", "moby#42681 (ENOSYS unless CAP_SYS_ADMIN, so glibc falls back to clone)"),
}
FILTER_ERRNOS = ("EPERM", "ENOSYS", "SIGSYS")


@dataclass(frozen=True)
class ProfileGeneration:
    """Behaviour of the default profile: True/False per marker, None when it could not be measured."""

    af_vsock_refused: bool | None = None
    process_vm_allowed: bool | None = None
    name_to_handle_at_allowed: bool | None = None
    clone3_enosys: bool | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # syscall -> errno seen
    error: str = ""

    @property
    def label(self) -> str:
        """A short name: which of moby's profile generations this behaviour matches."""
        if self.error:
            return f"unknown ({self.error})"
        marks = (self.af_vsock_refused, self.process_vm_allowed, self.name_to_handle_at_allowed)
        if None in marks:
            return "unknown (not every marker was measured)"
        if all(marks):
            return "moby >= 24.0 profile (AF_VSOCK refused, process_vm_* and name_to_handle_at allowed)"
        if not any(marks):
            return "moby 20.10 profile (AF_VSOCK allowed, process_vm_* and name_to_handle_at blocked)"
        return "mixed: " + ", ".join(
            f"{PROFILE_MARKERS[k][0]}={'yes' if v else 'no'}"
            for k, v in zip(("socket", "process_vm_readv", "name_to_handle_at"), marks, strict=True)
        )


def profile_generation(answers: dict[str, str | None], error: str = "") -> ProfileGeneration:
    """Decode the errnos hardlab-probe printed in a default container (syscall -> errno or None)."""

    def allowed(name: str) -> bool | None:
        seen = answers.get(name)
        return None if seen is None else seen not in FILTER_ERRNOS

    vsock = answers.get("socket")
    clone3 = answers.get("clone3")
    return ProfileGeneration(
        af_vsock_refused=None if vsock is None else vsock == "EPERM",
        process_vm_allowed=allowed("process_vm_readv"),
        name_to_handle_at_allowed=allowed("name_to_handle_at"),
        clone3_enosys=None if clone3 is None else clone3 == "ENOSYS",
        evidence={k: v for k, v in answers.items() if v is not None},
        error=error,
    )


# -- ABIs -------------------------------------------------------------------------------------------------------

ABIS = ("x86_64", "i386", "x32")


def abis_accepted(answers: dict[str, str | None]) -> dict[str, bool | None]:
    """abi -> does the kernel answer a getpid made through it (unconfined)? None: not measured."""
    return {abi: None if answers.get(abi) is None else answers[abi] == "OK" for abi in ABIS}


# -- --privileged -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Privileged:
    starts: bool | None = None  # None: not probed
    capbnd: str | None = None  # the hex mask of a --privileged container's CapBnd
    evidence: str = ""

    @property
    def names(self) -> frozenset[str]:
        return caps.decode(self.capbnd) if self.capbnd else frozenset()

    def missing(self, cap_last_cap: int | None) -> frozenset[str]:
        """Capabilities the kernel knows that --privileged does not grant (the engine's root lacks them)."""
        if cap_last_cap is None or not self.capbnd:
            return frozenset()
        return caps.all_caps(cap_last_cap) - self.names


def capbnd_from_status(text: str) -> str | None:
    found = re.search(r"^CapBnd:\s*([0-9a-fA-F]+)", text, re.MULTILINE)
    return found.group(1).lower() if found else None


# -- all of it --------------------------------------------------------------------------------------------------


@dataclass
class EngineFacts:
    engine_version: str | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    kernel: str | None = None
    cgroup_version: str | None = None
    cgroup_layout: str | None = None  # local engines only
    rootless: bool | None = None
    cap_last_cap: int | None = None
    profile: ProfileGeneration = field(default_factory=ProfileGeneration)
    abis: dict[str, bool | None] = field(default_factory=dict)
    privileged: Privileged = field(default_factory=Privileged)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EngineFacts:
        data = dict(data or {})
        profile = ProfileGeneration(**(data.pop("profile", None) or {}))
        privileged = Privileged(**(data.pop("privileged", None) or {}))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known, profile=profile, privileged=privileged)

    def versions(self) -> dict[str, tuple[int, ...]]:
        """The comparable versions a rule can test: engine, runtime, kernel."""
        return {
            "engine": version_tuple(self.engine_version),
            "runtime": version_tuple(self.runtime_version),
            "kernel": version_tuple(self.kernel),
        }

    def lines(self) -> list[str]:
        """The doctor's rows for these facts."""
        p = self.profile
        yes = {True: "yes", False: "no", None: "?"}
        abis = ", ".join(f"{abi} {'yes' if ok else 'no' if ok is False else '?'}" for abi, ok in self.abis.items())
        priv = self.privileged
        if priv.starts is None:
            privileged = "not probed"
        elif not priv.starts:
            privileged = f"does not start ({priv.evidence})"
        else:
            missing = priv.missing(self.cap_last_cap)
            privileged = f"starts; CapBnd {priv.capbnd} = {len(priv.names)} capabilities"
            privileged += f", lacking {' '.join(sorted(missing))}" if missing else ", every capability the kernel has"
        evidence = " ".join(f"{k}={v}" for k, v in sorted(p.evidence.items()))
        return [
            f"  engine version   {self.engine_version}",
            f"  OCI runtime      {self.runtime} {self.runtime_version or '(version unknown)'}",
            f"  kernel           {self.kernel}",
            f"  cgroup           v{self.cgroup_version}" + (f" ({self.cgroup_layout})" if self.cgroup_layout else ""),
            f"  rootless         {yes[self.rootless]}",
            f"  seccomp profile  {p.label}",
            f"    AF_VSOCK refused {yes[p.af_vsock_refused]}; process_vm_* allowed {yes[p.process_vm_allowed]}; "
            f"name_to_handle_at allowed {yes[p.name_to_handle_at_allowed]}; clone3 -> ENOSYS {yes[p.clone3_enosys]}",
            *([f"    measured: {evidence}"] if evidence else []),
            f"  syscall ABIs     {abis or 'not probed'}",
            f"  --privileged     {privileged}",
        ]
