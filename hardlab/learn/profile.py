"""Recorded syscalls -> a least-privilege seccomp profile in Docker's format (pure).

Deny by default (EPERM), allow exactly the recorded calls plus what the runtime needs, and keep the
argument filters Docker's default profile (moby profiles/seccomp/default.json) has for the calls they
guard, so a learned profile is never looser than the default on them: clone without namespace flags,
personality with the five personas Docker allows, socket for every family but AF_VSOCK. clone3 answers
ENOSYS (moby#42681): glibc then falls back to clone, whose flags a filter can read. The archMap covers
x86_64 with its x86 and x32 sub-architectures, so the 32-bit ABI reaches exactly the listed names too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

ERRNO_EPERM = 1
ERRNO_ENOSYS = 38
ARCH_MAP = [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]
# Docker's default: clone is allowed when none of these flags is set (CLONE_NEWNS|NEWCGROUP|NEWUTS|
# NEWIPC|NEWUSER|NEWPID|NEWNET = 0x7E020000).
CLONE_NAMESPACE_FLAGS = 0x7E020000
# Docker's default personas: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query).
PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
AF_VSOCK = 40
FILTERED = ("clone", "clone3", "personality", "socket")


def generate(
    recorded: Iterable[str],
    runtime: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    runtime_version: str = "",
) -> dict[str, Any]:
    """The profile: `recorded` names, `runtime` (name -> reason) and `extra` (--allow NAME -> reason)."""
    recorded = set(recorded)
    extra = dict(extra or {})
    wanted = recorded | set(runtime) | set(extra)
    if "clone3" in wanted:
        wanted.add("clone")  # clone3 gets ENOSYS: glibc falls back to clone, which must then work
    rules: list[dict[str, Any]] = []

    def allow(names: Iterable[str], comment: str) -> None:
        names = sorted(set(names) - set(FILTERED))
        if names:
            rules.append({"names": names, "action": "SCMP_ACT_ALLOW", "comment": comment})

    allow(recorded, "recorded from the workload")
    allow(set(runtime) - recorded, f"the container runtime needs these after installing the filter ({runtime_version})")
    for name in sorted(set(extra) - recorded - set(runtime)):
        allow([name], f"--allow: {extra[name]}")
    if "clone" in wanted:
        rules.append({
            "names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            "comment": "as Docker's default: no namespace flags",
        })  # fmt: skip
    if "personality" in wanted:
        for persona in PERSONAS:
            rules.append({
                "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": persona, "op": "SCMP_CMP_EQ"}],
                "comment": "as Docker's default: only these personas",
            })  # fmt: skip
    if "socket" in wanted:
        rules.append({
            "names": ["socket"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}],
            "comment": "as Docker's default (moby >= 23): every family but AF_VSOCK",
        })  # fmt: skip
    rules.append({
        "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ERRNO_ENOSYS,
        "comment": "ENOSYS as moby does (moby#42681): callers fall back to clone, whose flags are filtered",
    })  # fmt: skip
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": ERRNO_EPERM,
        "archMap": copy.deepcopy(ARCH_MAP),
        "syscalls": rules,
    }


def allowed(profile: Mapping[str, Any]) -> set[str]:
    """Names some rule allows (with or without an argument filter)."""
    return {n for r in profile.get("syscalls", []) if r.get("action") == "SCMP_ACT_ALLOW" for n in r.get("names", [])}


def without(profile: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy that no longer allows `names` (rules left empty are dropped)."""
    drop = set(names)
    out = copy.deepcopy(dict(profile))
    rules = []
    for rule in out.get("syscalls", []):
        if rule.get("action") == "SCMP_ACT_ALLOW":
            rule["names"] = [n for n in rule.get("names", []) if n not in drop]
            if not rule["names"]:
                continue
        rules.append(rule)
    out["syscalls"] = rules
    return out


def with_allowed(profile: Mapping[str, Any], names: Iterable[str], comment: str) -> dict[str, Any]:
    """A copy that also allows `names` (filtered calls get Docker's argument filters)."""
    add = sorted(set(names) - allowed(profile))
    out = copy.deepcopy(dict(profile))
    plain = [n for n in add if n not in FILTERED]
    if plain:
        out["syscalls"].insert(0, {"names": plain, "action": "SCMP_ACT_ALLOW", "comment": comment})
    special = [n for n in add if n in FILTERED and n != "clone3"]
    if special:
        extra = generate([], {}, {n: comment for n in special})
        out["syscalls"][-1:-1] = [r for r in extra["syscalls"] if r["names"] != ["clone3"]]
    return out


def to_json(profile: Mapping[str, Any]) -> str:
    return json.dumps(profile, indent=2) + "\n"
