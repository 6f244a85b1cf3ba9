"""Container options: the docker-py `containers.run` keywords a scenario may set, how each is checked,
the limits applied by default, and the host features options imply."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab.spec import caps as capsmod
from hardlab.spec.checker import Checker
from hardlab.spec.placeholders import placeholders
from hardlab.spec.seccomp import seccomp_problems
from hardlab.spec.tomlpos import KeyPath

# Applied unless a case sets its own, so a broken scenario cannot exhaust the host.
DEFAULT_LIMITS: dict[str, Any] = {"mem_limit": "256m", "pids_limit": 512}

# docker-py `containers.run` keyword -> accepted Python type(s). The allow-list of what a scenario may set.
CONTAINER_OPTIONS: dict[str, tuple[type, ...]] = {
    "command": (list, str),
    "entrypoint": (list, str),
    "user": (str, int),
    "cap_add": (list,),
    "cap_drop": (list,),
    "security_opt": (list,),
    "read_only": (bool,),
    "pids_limit": (int,),
    "mem_limit": (str, int),
    "memswap_limit": (str, int),
    "devices": (list,),
    "ulimits": (list,),
    "network_mode": (str,),
    "tmpfs": (dict, list),
    "privileged": (bool,),
    "userns_mode": (str,),
    "environment": (dict,),
    "working_dir": (str,),
    "sysctls": (dict,),
    "nano_cpus": (int,),
    "hostname": (str,),
    "group_add": (list,),
    "pid_mode": (str,),
    "ipc_mode": (str,),
    "shm_size": (str, int),
    "init": (bool,),
    "oom_kill_disable": (bool,),
    "volumes": (dict, list),
}


INT64 = (-(2**63), 2**63 - 1)
_SIZE = re.compile(r"^\d+(\.\d+)?([bkmgBKMG]|[kmgKMG][bB])?$")  # what docker-py's parse_bytes reads
_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
ULIMIT_NAMES = (
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
    "rtprio", "rttime", "sigpending", "stack",
)  # fmt: skip
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
# Namespace modes: what the engine accepts besides `container:NAME` (pid, ipc) and a network's name.
PID_MODES = ("host",)
IPC_MODES = ("none", "private", "shareable", "host")
USERNS_MODES = ("host",)
MIN_MEMORY = 6 * 1024**2  # the engine refuses a smaller mem_limit ("Minimum memory limit allowed is 6MB")


def normal_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    """Container options in the one form the rest of hardlab reads; the spellings a user may write:

    - `sysctls = { net.ipv4.ip_forward = "1" }` is, to TOML, a nested table; every sysctl name is a
      dotted path and no sysctl value is a table, so nested tables join back into the name the user wrote.
    - `tmpfs = ["/run", "/tmp:size=64m"]` (docker-py's list form) becomes `{ "/run" = "", "/tmp" = "size=64m" }`.
    Anything else is left as it is, for check_container to judge."""
    out = dict(opts)
    sysctls = out.get("sysctls")
    if isinstance(sysctls, dict) and any(isinstance(v, dict) for v in sysctls.values()):
        flat: dict[str, Any] = {}
        todo: list[tuple[str, Any]] = list(sysctls.items())
        while todo:
            name, value = todo.pop(0)
            if isinstance(value, dict) and value:
                todo[:0] = [(f"{name}.{k}", v) for k, v in value.items()]
            else:
                flat[name] = value
        out["sysctls"] = flat
    tmpfs = out.get("tmpfs")
    if isinstance(tmpfs, list) and all(isinstance(v, str) for v in tmpfs):
        pairs = [v.split(":", 1) if ":" in v else [v, ""] for v in tmpfs]
        if len({p[0] for p in pairs}) == len(pairs):  # a mount point twice stays a list: check_container says so
            out["tmpfs"] = {mount: options for mount, options in pairs}
    return out


def check_container(check: Checker, opts: Mapping[str, Any], path: KeyPath) -> None:
    """Report into `check` every problem of a table of container options at `path`: unknown keys, types,
    values (sizes, ranges, names, shapes), capability names, ulimits, security options and the seccomp
    profiles they name, so that nothing the engine or docker-py would refuse reaches them. A value with a
    `${placeholder}` is checked when it is bound, not here."""
    check.keys(opts, path, CONTAINER_OPTIONS)
    for key, kinds in CONTAINER_OPTIONS.items():
        if key in opts and not placeholders(opts[key]):
            names = " or ".join({list: "a list", str: "a string", int: "an integer", bool: "true/false",
                                  dict: "a table"}[k] for k in kinds)  # fmt: skip
            if check.typed(opts, key, path, kinds, names) is not None and key in _VALUE_CHECKS:
                for subpath, message in _VALUE_CHECKS[key](opts[key]):
                    check.error((*path, key, *subpath), message)
    # Only within one table: a course's limits or a case's own mem_limit may still change the other one.
    memory, swap = opts.get("mem_limit"), opts.get("memswap_limit")
    if memory is not None and swap is not None and not placeholders([memory, swap]):
        mem_bytes, swap_bytes = size_bytes(memory), size_bytes(swap)
        if mem_bytes is not None and swap_bytes is not None and swap_bytes != -1 and swap_bytes < mem_bytes:
            check.error((*path, "memswap_limit"), f"{swap!r} is less than mem_limit {memory!r}: the engine takes "
                                                  "memory plus swap, at least the memory limit")  # fmt: skip
    for n, opt in enumerate(opts.get("security_opt", []) if isinstance(opts.get("security_opt"), list) else []):
        if placeholders(opt):
            continue
        if not isinstance(opt, str):
            check.error((*path, "security_opt", n), f"expected a string, got {opt!r}")
        elif not re.match(r"^(seccomp|apparmor|label|no-new-privileges|systempaths)([=:].*)?$", opt):
            check.error((*path, "security_opt", n), f"unknown security option {opt!r}")
        elif opt.startswith("no-new-privileges") and opt[len("no-new-privileges") :] not in ("", "=true", "=false",
                                                                                              ":true", ":false"):
            check.error((*path, "security_opt", n), f"{opt!r}: no-new-privileges takes true or false")
        elif re.match(r"^(seccomp|apparmor|label|systempaths)[=:]?$", opt):
            check.error((*path, "security_opt", n), f"{opt!r} has no value (e.g. 'apparmor=docker-default')")
        elif opt.startswith("seccomp=") and opt != "seccomp=unconfined":
            ref = opt.split("=", 1)[1]
            where = (*path, "security_opt", n)
            check.problems.extend(seccomp_problems(check.base / ref, check.file, where, check, ref))


Found = list[tuple[KeyPath, str]]  # (key path below the option, message)


def _int_in(value: Any, low: int, high: int, note: str = "") -> str | None:
    """Why `value` is not an integer in [low, high] (None when it is); `note` says what the bounds mean."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"expected an integer from {low} to {high}{f' ({note})' if note else ''}, got {value!r}"
    return None


def size_bytes(value: Any) -> int | None:
    """A docker-py size (`256m`, `1g`, `1024`) in bytes; None when docker-py could not read it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not _SIZE.match(value):
        return None
    text = value.lower().removesuffix("b") if value[-2:-1].isalpha() else value.lower()
    unit = text[-1] if text[-1] in _UNITS else "b"
    return int(float(text.rstrip("bkmg") or 0) * _UNITS[unit])


def _size(minimum: int, allow_unlimited: bool = False) -> Any:
    def check(value: Any) -> Found:
        count = size_bytes(value)
        if count is None:
            return [((), f"{value!r} is not a size: write bytes as an integer or a string like '256m' "
                          "(units b, k, m, g)")]  # fmt: skip
        if allow_unlimited and count == -1:
            return []
        if count < minimum:
            least = f"{minimum // 1024**2}m" if minimum >= 1024**2 else f"{minimum} byte{'s' * (minimum != 1)}"
            unlimited = " (or -1 for unlimited)" if allow_unlimited else ""
            return [((), f"{value!r} is below the minimum the engine accepts, {least}{unlimited}")]
        if count > INT64[1]:
            return [((), f"{value!r} is more than the engine can hold (2^63 - 1 bytes)")]
        return []

    return check


def _strings(what: str, allow_int: bool = False) -> Any:
    def check(value: Any) -> Found:
        kinds = (str, int) if allow_int else (str,)
        return [((n,), f"expected {what}, got {v!r}") for n, v in enumerate(value)
                if isinstance(v, bool) or not isinstance(v, kinds)]  # fmt: skip

    return check


def _command(value: Any) -> Found:
    if isinstance(value, str):
        if not value.strip():
            return [((), "must not be empty")]
        try:
            shlex.split(value)  # what docker-py does with a string command
        except ValueError as exc:
            return [((), f"docker-py cannot split {value!r} into words ({exc}); write a list of strings")]
        return []
    if not value:
        return [((), "must not be an empty list (leave the key out for the image's own)")]
    return _strings("a string (one argv word)")(value)


def _caps(value: list[Any]) -> Found:
    out: Found = []
    for n, cap in enumerate(value):
        if not isinstance(cap, str):
            out.append(((n,), f"expected a capability name such as 'NET_ADMIN', got {cap!r}"))
        elif cap.upper() != "ALL" and not placeholders(cap) and not capsmod.is_known(cap):
            out.append(((), f"unknown capability {cap!r}"))
    return out


def _ulimits(value: list[Any]) -> Found:
    out: Found = []
    shape = "each ulimit is a table { name = 'nofile', soft = 64, hard = 64 }"
    for n, ulimit in enumerate(value):
        if not isinstance(ulimit, dict) or set(ulimit) - {"name", "soft", "hard"} or "name" not in ulimit:
            out.append(((n,), shape))
            continue
        name = ulimit["name"]
        if not isinstance(name, str) or name not in ULIMIT_NAMES:
            out.append(((n, "name"), f"unknown ulimit {name!r}; known: {', '.join(ULIMIT_NAMES)}"))
        for bound in ("soft", "hard"):
            if bound not in ulimit:
                out.append(((n,), f"needs both soft and hard (the engine would take the missing {bound} as 0)"))
            else:
                why = _int_in(ulimit[bound], -1, INT64[1], "-1 is unlimited")
                if why:
                    out.append(((n, bound), why))
        soft, hard = ulimit.get("soft"), ulimit.get("hard")
        if isinstance(soft, int) and isinstance(hard, int) and 0 <= hard < soft and not isinstance(soft, bool):
            out.append(((n,), f"soft limit {soft} is above the hard limit {hard}"))
    return out


def _devices(value: list[Any]) -> Found:
    out: Found = []
    for n, device in enumerate(value):
        parts = device.split(":") if isinstance(device, str) else []
        if not parts or len(parts) > 3 or not all(p.startswith("/") for p in parts[:2]) or (
            len(parts) == 3 and not (parts[2] and set(parts[2]) <= set("rwm"))
        ):
            out.append(((n,), f"expected 'HOST_PATH[:CONTAINER_PATH[:rwm]]' such as '/dev/fuse:/dev/fuse:rwm', "
                              f"got {device!r}"))  # fmt: skip
    return out


def _tmpfs(value: dict[str, Any] | list[Any]) -> Found:
    """A table { "/path" = "size=64m" } or, as docker-py also takes, a list ["/path", "/path:size=64m"]."""
    if isinstance(value, list):
        found: Found = [((n,), f"expected '/path' or '/path:OPTIONS', got {v!r}") for n, v in enumerate(value)
                        if not isinstance(v, str)]  # fmt: skip
        mounts = [v.split(":", 1)[0] for v in value if isinstance(v, str)]
        twice = sorted({m for m in mounts if mounts.count(m) > 1})
        found += [((), f"mounts {m!r} twice") for m in twice]
        return found or _tmpfs(normal_options({"tmpfs": value})["tmpfs"])
    out: Found = []
    for mount, options in value.items():
        if not mount.startswith("/"):
            out.append(((mount,), f"a tmpfs mount point is an absolute path such as '/tmp', got {mount!r}"))
        elif not isinstance(options, str):
            out.append(((mount,), f"tmpfs options are a string such as 'size=64m,mode=1777', got {options!r}"))
    return out


def _environment(value: dict[str, Any]) -> Found:
    return [((name,), f"an environment value is a string or a number, got {v!r}") for name, v in value.items()
            if isinstance(v, bool) or not isinstance(v, (str, int, float))]  # fmt: skip


def _sysctls(value: dict[str, Any]) -> Found:
    out: Found = []
    for name, v in value.items():
        if isinstance(v, dict):
            leaf, example = next(iter(normal_options({"sysctls": {name: v}})["sysctls"].items()))
            out.append(((name,), f"a sysctl name is one key: quote it, \"{leaf}\" = {example!r}"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(((name,), f"a sysctl value is a string: write \"{name}\" = {str(v)!r}"))
        elif not isinstance(v, str):
            out.append(((name,), f"a sysctl value is a string such as '1', got {v!r}"))
        elif not re.match(r"^[a-z0-9_]+([./][A-Za-z0-9_-]+)+$", name):
            out.append(((name,), f"{name!r} is not a sysctl name (such as 'net.ipv4.ip_forward')"))
    return out


def _mode(known: tuple[str, ...], container: bool) -> Any:
    def check(value: str) -> Found:
        if value in ("", *known) or (container and re.match(r"^container:.+", value)):
            return []
        shown = ", ".join([repr(k) for k in known] + (["container:NAME"] if container else []))
        return [((), f"unknown mode {value!r}; known: {shown}")]

    return check


def _user(value: str | int) -> Found:
    if isinstance(value, int):
        why = _int_in(value, 0, 2**32 - 2, "a uid")
        return [((), why)] if why else []
    if not value.strip() or not re.match(r"^[^:\s]+(:[^:\s]+)?$", value):
        return [((), f"expected a user name or uid, optionally ':group', got {value!r}")]
    return []


def _group_add(value: list[Any]) -> Found:
    out = _strings("a group name or gid", allow_int=True)(value)
    return out + [((n,), why) for n, v in enumerate(value) if isinstance(v, int) and not isinstance(v, bool)
                  and (why := _int_in(v, 0, 2**32 - 2, "a gid"))]  # fmt: skip


def _volumes(value: dict[str, Any] | list[Any]) -> Found:
    out: Found = []
    if isinstance(value, list):
        for n, v in enumerate(value):
            if not isinstance(v, str) or len(v.split(":")) not in (2, 3) or not v.split(":")[1].startswith("/"):
                out.append(((n,), f"expected 'SOURCE:/container/path[:ro|rw]', got {v!r}"))
        return out
    for source, bind in value.items():
        if not isinstance(bind, dict) or "bind" not in bind or set(bind) - {"bind", "mode"}:
            out.append(((source,), "expected { bind = '/container/path', mode = 'ro' }"))
        elif not isinstance(bind["bind"], str) or not bind["bind"].startswith("/"):
            out.append(((source, "bind"), f"a bind target is an absolute path, got {bind['bind']!r}"))
        elif not isinstance(bind.get("mode", "rw"), str):
            out.append(((source, "mode"), f"expected a string such as 'ro' or 'rw', got {bind['mode']!r}"))
    return out


def _one(check: Any) -> Any:
    def wrapped(value: Any) -> Found:
        why = check(value)
        return [((), why)] if why else []

    return wrapped


_VALUE_CHECKS: dict[str, Any] = {
    "command": _command,
    "entrypoint": _command,
    "user": _user,
    "cap_add": _caps,
    "cap_drop": _caps,
    "pids_limit": _one(lambda v: _int_in(v, -1, 4194304, "-1 is unlimited; the kernel's pid_max is at most 4194304")),
    "mem_limit": _size(MIN_MEMORY),
    "memswap_limit": _size(MIN_MEMORY, allow_unlimited=True),
    "shm_size": _size(1),
    "nano_cpus": _one(lambda v: _int_in(v, 10_000_000, 1024 * 10**9, "10000000 is 0.01 CPU")),
    "devices": _devices,
    "ulimits": _ulimits,
    "tmpfs": _tmpfs,
    "environment": _environment,
    "sysctls": _sysctls,
    "working_dir": _one(lambda v: None if v.startswith("/") else f"must be an absolute path, got {v!r}"),
    "hostname": _one(lambda v: None if _HOSTNAME.match(v) and len(v) <= 253 else f"{v!r} is not a host name"),
    "pid_mode": _mode(PID_MODES, container=True),
    "ipc_mode": _mode(IPC_MODES, container=True),
    "userns_mode": _mode(USERNS_MODES, container=False),
    "network_mode": _one(lambda v: None if v.strip() else "must not be empty (leave the key out for the default)"),
    "group_add": _group_add,
    "security_opt": lambda v: [],  # checked item by item below, seccomp profiles included
    "volumes": _volumes,
}


def container_problems(opts: Mapping[str, Any], base: Path) -> list[str]:
    """Type, capability and security_opt problems of a table of container options from outside a
    scenario file (a student's run options), as 'key: message' lines."""
    check = Checker("", "", base)
    check_container(check, {k: v for k, v in opts.items() if k in CONTAINER_OPTIONS}, ())
    return [f"{p.key}: {p.message}" for p in check.problems]


def implied_requirements(container: Mapping[str, Any]) -> tuple[str, ...]:
    """Host features a container's options need, so a scenario cannot forget to say so."""
    needs = []
    if container.get("privileged") is True:
        needs.append("privileged")
    for opt in container.get("security_opt", []) or []:
        if isinstance(opt, str) and opt.startswith("apparmor=") and opt != "apparmor=unconfined":
            needs.append("apparmor")
        if isinstance(opt, str) and opt.startswith("seccomp=") and opt != "seccomp=unconfined":
            needs.append("seccomp")
        if isinstance(opt, str) and opt.startswith("label="):
            needs.append("selinux")
    if "pids_limit" in container:
        needs.append("cgroup-pids")
    return tuple(needs)
