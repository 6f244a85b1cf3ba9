"""Container options: the docker-py `containers.run` keywords a scenario may set, how each is checked,
the limits applied by default, and the host features options imply."""

from __future__ import annotations

import re
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
    "tmpfs": (dict,),
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


def check_container(check: Checker, opts: Mapping[str, Any], path: KeyPath) -> None:
    """Report into `check` every problem of a table of container options at `path`: unknown keys, types,
    capability names, ulimits, security options and the seccomp profiles they name. A value with a
    `${placeholder}` is checked when it is bound, not here."""
    check.keys(opts, path, CONTAINER_OPTIONS)
    for key, kinds in CONTAINER_OPTIONS.items():
        if key in opts and not placeholders(opts[key]):
            names = " or ".join({list: "a list", str: "a string", int: "an integer", bool: "true/false",
                                  dict: "a table"}[k] for k in kinds)  # fmt: skip
            check.typed(opts, key, path, kinds, names)
    for key in ("cap_add", "cap_drop"):
        for cap in opts.get(key, []) if isinstance(opts.get(key), list) else []:
            if isinstance(cap, str) and cap.upper() != "ALL" and not placeholders(cap) and not capsmod.is_known(cap):
                check.error((*path, key), f"unknown capability {cap!r}")
    for n, ulimit in enumerate(opts.get("ulimits", []) if isinstance(opts.get("ulimits"), list) else []):
        if not isinstance(ulimit, dict) or set(ulimit) - {"name", "soft", "hard"} or "name" not in ulimit:
            check.error((*path, "ulimits", n), "each ulimit is a table { name = 'nofile', soft = 64, hard = 64 }")
    for n, opt in enumerate(opts.get("security_opt", []) if isinstance(opts.get("security_opt"), list) else []):
        if not isinstance(opt, str):
            check.error((*path, "security_opt", n), f"expected a string, got {opt!r}")
        elif not re.match(r"^(seccomp|apparmor|label|no-new-privileges|systempaths)([=:].*)?$", opt):
            check.error((*path, "security_opt", n), f"unknown security option {opt!r}")
        elif opt.startswith("seccomp=") and opt != "seccomp=unconfined" and not placeholders(opt):
            profile = check.base / opt.split("=", 1)[1]
            check.problems.extend(seccomp_problems(profile, check.file, (*path, "security_opt", n), check))


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
