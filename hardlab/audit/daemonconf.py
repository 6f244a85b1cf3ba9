"""dockerd's configuration as the audit sees it: daemon.json, command-line flags, file modes. Pure.

daemon.json is strict JSON (dockerd refuses comments and wrong types and will not start), so every
problem is reported with the file, the line and the key. File modes are compared as permission BITS:
"660 or more restrictive" means no bit outside rw-rw----, which a decimal comparison gets wrong
(0606 < 660 as numbers, yet it gives everyone read and write).
"""

from __future__ import annotations

import json
import re
import shlex
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardlab.errors import Problem as ConfProblem
from hardlab.errors import ProblemsError

DEFAULT_PATH = "/etc/docker/daemon.json"
DEFAULT_SOCKET = "/var/run/docker.sock"

# daemon.json key -> accepted JSON types (the keys the audit reads; dockerd knows many more).
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "icc": (bool,),
    "userns-remap": (str,),
    "live-restore": (bool,),
    "no-new-privileges": (bool,),
    "seccomp-profile": (str,),
    "insecure-registries": (list,),
    "tls": (bool,),
    "tlsverify": (bool,),
    "tlscacert": (str,),
    "tlscert": (str,),
    "tlskey": (str,),
    "hosts": (list,),
    "log-driver": (str,),
    "log-level": (str,),
    "log-opts": (dict,),
    "iptables": (bool,),
    "userland-proxy": (bool,),
    "experimental": (bool,),
    "selinux-enabled": (bool,),
    "authorization-plugins": (list,),
    "default-ulimits": (dict,),
    "data-root": (str,),
    "exec-root": (str,),
    "bridge": (str,),
    "storage-driver": (str,),
    "cgroup-parent": (str,),
    "default-cgroupns-mode": (str,),
}
LIST_OF_STRINGS = {"insecure-registries", "hosts", "authorization-plugins"}

# dockerd flag -> daemon.json key; flags that may repeat build a list.
FLAG_KEYS = {
    "--icc": "icc", "--userns-remap": "userns-remap", "--live-restore": "live-restore",
    "--no-new-privileges": "no-new-privileges", "--seccomp-profile": "seccomp-profile",
    "--insecure-registry": "insecure-registries", "--tls": "tls", "--tlsverify": "tlsverify",
    "--tlscacert": "tlscacert", "--tlscert": "tlscert", "--tlskey": "tlskey", "-H": "hosts", "--host": "hosts",
    "--log-driver": "log-driver", "-l": "log-level", "--log-level": "log-level", "--iptables": "iptables",
    "--userland-proxy": "userland-proxy", "--experimental": "experimental", "--selinux-enabled": "selinux-enabled",
    "--authorization-plugin": "authorization-plugins", "--data-root": "data-root", "--exec-root": "exec-root",
    "-b": "bridge", "--bridge": "bridge", "--config-file": "config-file", "-s": "storage-driver",
    "--storage-driver": "storage-driver", "--cgroup-parent": "cgroup-parent", "-G": "group", "--group": "group",
    "--pidfile": "pidfile", "-p": "pidfile",
}  # fmt: skip
BOOL_FLAGS = {k for k, v in FLAG_KEYS.items() if KEY_TYPES.get(v) == (bool,)}
REPEATED = {"insecure-registries", "hosts", "authorization-plugins"}


class DaemonConfError(ProblemsError):
    """daemon.json cannot be used as it is (dockerd itself would refuse it); every problem listed."""


@dataclass(frozen=True)
class DaemonConf:
    path: str
    present: bool
    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def _key_line(text: str, key: str) -> int | None:
    found = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def parse(text: str, file: str = DEFAULT_PATH) -> dict[str, Any]:
    """daemon.json text -> its values. Raises DaemonConfError with file, line and key for each problem."""
    problems: list[ConfProblem] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith(("//", "#", "/*")):
            problems.append(ConfProblem(file, lineno, "", "comments are not JSON; dockerd refuses to start with "
                                        f"this file (found {stripped[:40]!r})"))  # fmt: skip
    if problems:
        raise DaemonConfError(problems)
    if not text.strip():
        return {}  # dockerd accepts an empty file
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = ConfProblem(file, exc.lineno, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
        raise DaemonConfError([problem]) from None
    if not isinstance(data, dict):
        raise DaemonConfError([ConfProblem(file, 1, "", f"must be a JSON object, not {type(data).__name__}")])
    for key, value in data.items():
        kinds = KEY_TYPES.get(key)
        if kinds is None:
            continue
        # JSON true is a Python bool, and bool is an int: check bool explicitly both ways.
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if ok and key in LIST_OF_STRINGS:
            ok = all(isinstance(v, str) for v in value)
        if not ok:
            want = "a list of strings" if key in LIST_OF_STRINGS else " or ".join(_json_type(k) for k in kinds)
            problems.append(ConfProblem(file, _key_line(text, key), key,
                                        f"must be {want}, got {json.dumps(value)} ({_json_name(value)})"))  # fmt: skip
    if problems:
        raise DaemonConfError(problems)
    return data


def _json_type(kind: type) -> str:
    return {bool: "true/false", str: "a string", list: "a list", dict: "an object", int: "a number"}[kind]


def _json_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {str: "string", int: "number", float: "number", list: "list", dict: "object"}.get(type(value), "null")


def load(path: str | Path) -> DaemonConf:
    """daemon.json at `path`; a missing file is a valid state (dockerd uses its defaults)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return DaemonConf(str(path), False, {})
    except OSError as exc:
        raise DaemonConfError([ConfProblem(str(path), None, "", f"cannot be read: {exc.strerror}")]) from exc
    return DaemonConf(str(path), True, parse(text, str(path)))


def parse_cmdline(argv: list[str] | str) -> dict[str, Any]:
    """dockerd's command line -> daemon.json-style keys (what `ps` shows; flags win over the file)."""
    args = shlex.split(argv) if isinstance(argv, str) else list(argv)
    out: dict[str, Any] = {}
    i = 1 if args and not args[0].startswith("-") else 0  # skip the program name
    while i < len(args):
        arg = args[i]
        i += 1
        name, eq, value = arg.partition("=")
        key = FLAG_KEYS.get(name)
        if key is None:
            continue
        if name in BOOL_FLAGS:
            parsed: Any = value.lower() in {"1", "true", "t", "yes"} if eq else True
        elif eq:
            parsed = value
        elif i < len(args):
            parsed = args[i]
            i += 1
        else:
            continue
        if key in REPEATED:
            out.setdefault(key, []).append(parsed)
        else:
            out[key] = parsed
    return out


def effective(conf: DaemonConf, flags: Mapping[str, Any]) -> dict[str, Any]:
    """What dockerd runs with: the file's values, then command-line flags (dockerd refuses a key set in both,
    so the order only matters for the lists, which it merges)."""
    out = dict(conf.values)
    for key, value in flags.items():
        if key in REPEATED and key in out:
            out[key] = [*out[key], *value]
        else:
            out[key] = value
    return out


# ---- permission bits -------------------------------------------------------------------------------

_BIT_NAMES = [
    (stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid"), (stat.S_ISVTX, "sticky"),
    (stat.S_IRUSR, "owner read"), (stat.S_IWUSR, "owner write"), (stat.S_IXUSR, "owner execute"),
    (stat.S_IRGRP, "group read"), (stat.S_IWGRP, "group write"), (stat.S_IXGRP, "group execute"),
    (stat.S_IROTH, "other read"), (stat.S_IWOTH, "other write"), (stat.S_IXOTH, "other execute"),
]  # fmt: skip


def parse_mode(value: str | int) -> int:
    """'0644', '644', '0o644' or an int (already bits) -> permission bits. Strings are always octal."""
    if isinstance(value, bool):
        raise ValueError(f"not a file mode: {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 0o7777:
            raise ValueError(f"not a file mode: {value!r} (bits must be within 0o7777)")
        return value
    text = str(value).strip().lower().removeprefix("0o")
    if not re.fullmatch(r"[0-7]{1,4}", text):
        raise ValueError(f"not an octal file mode: {value!r}")
    return int(text, 8)


def excess_bits(actual: int, allowed: int) -> int:
    """Permission bits set in `actual` that `allowed` does not grant."""
    return actual & 0o7777 & ~allowed


def at_most(actual: int, allowed: int) -> bool:
    """'`allowed` or more restrictive': no bit outside `allowed`."""
    return excess_bits(actual, allowed) == 0


def symbolic(mode: int) -> str:
    """0o4755 -> 'rwsr-xr-x' (ls style)."""
    out = []
    for who, (r, w, x, special, ch) in enumerate(
        [
            (stat.S_IRUSR, stat.S_IWUSR, stat.S_IXUSR, stat.S_ISUID, "s"),
            (stat.S_IRGRP, stat.S_IWGRP, stat.S_IXGRP, stat.S_ISGID, "s"),
            (stat.S_IROTH, stat.S_IWOTH, stat.S_IXOTH, stat.S_ISVTX, "t"),
        ]
    ):
        del who
        out.append("r" if mode & r else "-")
        out.append("w" if mode & w else "-")
        if mode & special:
            out.append(ch if mode & x else ch.upper())
        else:
            out.append("x" if mode & x else "-")
    return "".join(out)


def describe_bits(bits: int) -> str:
    """0o024 -> 'group write, other read'."""
    return ", ".join(name for bit, name in _BIT_NAMES if bits & bit) or "none"


def mode_verdict(actual: int, allowed: int) -> tuple[bool, str]:
    """(ok, evidence) for 'mode `allowed` or more restrictive'."""
    shown = f"{actual & 0o7777:04o} ({symbolic(actual)})"
    extra = excess_bits(actual, allowed)
    if not extra:
        return True, f"mode {shown} grants nothing beyond {allowed:04o} ({symbolic(allowed)})"
    return False, (
        f"mode {shown} grants {describe_bits(extra)} ({extra:04o}) beyond the allowed {allowed:04o} "
        f"({symbolic(allowed)})"
    )


def owner_verdict(user: str, group: str, want_user: str, want_groups: tuple[str, ...]) -> tuple[bool, str]:
    ok = user == want_user and group in want_groups
    want = f"{want_user}:{'|'.join(want_groups)}"
    return ok, f"owned by {user}:{group}" + ("" if ok else f", expected {want}")
