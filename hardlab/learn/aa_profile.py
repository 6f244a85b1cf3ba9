"""What an AppArmor-recorded workload did -> an enforce-mode AppArmor profile (pure, deterministic).

The profile keeps what Docker's own `docker-default` template (moby profiles/apparmor/template.go) needs for
a container and refuses on top of any rule: signals from the host and dockerd, signals and ptrace among the
container's own processes, no writes to /proc outside `/proc/PID` and `/proc/sys/kernel/shm*`, nothing of
`/proc/sysrq-trigger`, `/proc/kcore`, `/sys/firmware`, `/sys/kernel/security`, no writes under /sys but
cgroupfs, no mount. Where docker-default then allows every file, capability and network access (`file,`
`capability,` `network,`), this profile allows only what was recorded: each path with its merged
permissions (every recorded program `ix`, so it runs under this same profile), each capability, each
network family and socket type. What was not recorded is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hardlab.learn.aa_log import AaRecorded

LEARNING_PREFIX = "hardlab-learn-"
ENFORCE_PREFIX = "hardlab-"
FLAGS = "attach_disconnected,mediate_deleted"
# docker-default's daemon peer: dockerd runs unconfined on the lab VM (and on stock Debian/Ubuntu).
DAEMON_PROFILE = "unconfined"
_PERM_ORDER = "rwalkm"
# Path parts that differ on every run: process and thread ids under /proc, pty numbers.
_VARIABLE = (
    (re.compile(r"^/proc/\d+(?=/|$)"), "/proc/[0-9]*"),
    (re.compile(r"(?<=/task/)\d+(?=/|$)"), "[0-9]*"),
    (re.compile(r"^/dev/pts/\d+$"), "/dev/pts/[0-9]*"),
)
_GLOB_CHARS = re.compile(r'([*?\[\]{}^"\\])')
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

# The base rules, as docker-default has them (written here from the template's meaning, not copied).
_BASE_DENIES = (
    "  # from docker-default: no writes to files directly in /proc, nor outside /proc/PID, /proc/sys/kernel/shm*",
    "  deny @{PROC}/* w,",
    "  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,",
    "  deny @{PROC}/sys/[^k]** w,",
    "  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,",
    "  deny @{PROC}/sysrq-trigger rwklx,",
    "  deny @{PROC}/kcore rwklx,",
    "  deny mount,",
    "  # from docker-default: no writes under /sys but cgroupfs; nothing of firmware and LSM interfaces",
    "  deny /sys/[^f]*/** wklx,",
    "  deny /sys/f[^s]*/** wklx,",
    "  deny /sys/fs/[^c]*/** wklx,",
    "  deny /sys/fs/c[^g]*/** wklx,",
    "  deny /sys/fs/cg[^r]*/** wklx,",
    "  deny /sys/firmware/** rwklx,",
    "  deny /sys/kernel/security/** rwklx,",
)


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name)) and len(name) <= 64


def learning_name(name: str) -> str:
    return LEARNING_PREFIX + name


def enforce_name(name: str) -> str:
    return ENFORCE_PREFIX + name


def learning_profile(name: str) -> str:
    """The complain-mode profile the workload is recorded under: no rule it meets, so every access is logged."""
    return (
        "# Written by `hardlab learn --lsm apparmor` for recording only (complain mode: nothing is refused,\n"
        "# every access is logged as apparmor=\"ALLOWED\"). Loaded while recording, removed after.\n"
        f"profile {learning_name(name)} flags=({FLAGS},complain) {{\n"
        "  # Every program runs under this same profile (a complain-mode exec without a rule would start an\n"
        "  # empty learning child, null-PROGRAM, which leaves sockets unmediated: no network records), and\n"
        "  # `audit` logs each exec (apparmor=\"AUDIT\"), so the programs run are still recorded.\n"
        "  audit /** ix,\n"
        "}\n"
    )


def general_path(path: str) -> str:
    """A recorded path as a profile path: run-specific ids become globs, other glob characters escaped."""
    escaped = _GLOB_CHARS.sub(r"\\\1", path)
    for pattern, glob in _VARIABLE:
        escaped = pattern.sub(glob, escaped)
    return escaped


def _quoted(path: str) -> str:
    return f'"{path}"' if re.search(r"\s", path) else path


def file_rules(rec: AaRecorded) -> list[str]:
    """`PATH PERMS,` per recorded path (merged after generalising), sorted; programs get `ix`."""
    merged: dict[str, set[str]] = {}
    for path, perms in rec.files.items():
        merged.setdefault(general_path(path), set()).update(perms)
    out = []
    for path in sorted(merged):
        perms = merged[path]
        letters = "".join(c for c in _PERM_ORDER if c in perms and not (c == "a" and "w" in perms))
        if "x" in perms:
            letters += "ix"
        out.append(f"  {_quoted(path)} {letters},")
    return out


def _peer_name(peer: str, profile: str) -> str:
    return profile if peer == "@self" else peer


def generate(
    name: str, rec: AaRecorded, workloads: Sequence[str] = (), image: str = "", daemon: str = DAEMON_PROFILE
) -> str:
    """The enforce profile text for `rec` (named hardlab-NAME)."""
    profile = enforce_name(name)
    signals = {("receive", "unconfined"), ("receive", daemon), ("send", profile), ("receive", profile)}
    signals |= {(perm, _peer_name(peer, profile)) for perm, peer in rec.signals}
    ptrace = {(p, profile) for p in ("trace", "read", "tracedby", "readby")}
    ptrace |= {(perm, _peer_name(peer, profile)) for perm, peer in rec.ptrace}
    lines = [
        "# Written by `hardlab learn --lsm apparmor`: what the workload was recorded doing, and docker-default's",
        "# own refusals. Load it with `apparmor_parser -r FILE`; run a container with",
        f"#   docker run --security-opt apparmor={profile} ...",
        *(f"# workload: {w}" for w in workloads),
        *([f"# image: {image}"] if image else []),
        "#include <tunables/global>",
        "",
        f"profile {profile} flags=({FLAGS}) {{",
        "  # signals: from the host and dockerd, and among the container's own processes (docker-default)",
    ]
    by_peer: dict[str, set[str]] = {}
    for perm, peer in signals:
        by_peer.setdefault(peer, set()).add(perm)
    lines += [f"  signal ({','.join(sorted(perms))}) peer={peer}," for peer, perms in sorted(by_peer.items())]
    by_peer = {}
    for perm, peer in ptrace:
        by_peer.setdefault(peer, set()).add(perm)
    lines += [f"  ptrace ({','.join(sorted(perms))}) peer={peer}," for peer, perms in sorted(by_peer.items())]
    lines.append("")
    lines += list(_BASE_DENIES)
    lines += ["", f"  # capabilities recorded ({len(rec.capabilities)})"]
    lines += [f"  capability {c}," for c in sorted(rec.capabilities)]
    lines += [f"  # network recorded ({len(rec.network)})"]
    lines += [f"  network {' '.join(x for x in (fam, typ) if x)}," for fam, typ in sorted(rec.network)]
    rules = file_rules(rec)
    lines += [f"  # files recorded ({len(rules)} rules; programs run with ix, under this profile)"]
    lines += rules
    if rec.other:
        lines.append(f"  # recorded, no rule written for: {', '.join(sorted(rec.other))}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def rule_counts(text: str) -> dict[str, int]:
    """How many capability, network and file rules a generated profile holds (for the report)."""
    counts = {"capability": 0, "network": 0, "file": 0, "exec": 0}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("capability "):
            counts["capability"] += 1
        elif line.startswith("network "):
            counts["network"] += 1
        elif line.startswith(("/", '"/')) and line.endswith(","):
            counts["file"] += 1
            counts["exec"] += line.rstrip(",").split()[-1].endswith("ix")
    return counts
