"""Seccomp profiles: the checks the engine would reject a profile for, made before a container starts."""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from hardlab.errors import BadInput, Problem
from hardlab.spec.checker import Checker
from hardlab.spec.tomlpos import KeyPath, format_path

# Docker's default profile is about 20 KB; no real profile comes near this. A path naming /dev/zero, a
# FIFO or a huge file is refused at this size instead of being read into memory (a MemoryError, a hang).
MAX_PROFILE_BYTES = 1 << 20
_OPEN = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class ProfileError(BadInput):
    """A seccomp profile path that cannot be read as a profile: the message names the path."""


def read_profile(profile: Path, limit: int = MAX_PROFILE_BYTES) -> str:
    """A seccomp profile's text: a regular file (never a device, FIFO or socket, which could be endless or
    block), at most `limit` bytes, UTF-8. Raises ProfileError with a sentence naming the path."""
    try:
        fd = os.open(profile, _OPEN)
    except FileNotFoundError:
        raise ProfileError(f"seccomp profile not found: {profile}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read seccomp profile {profile}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)  # the file opened, not the name looked at
        if not stat.S_ISREG(info.st_mode):
            raise ProfileError(f"seccomp profile {profile} is not a regular file (a device, FIFO or folder "
                               "is never a profile)")  # fmt: skip
        if info.st_size > limit:
            raise ProfileError(f"seccomp profile {profile} is {info.st_size} bytes, more than a profile can be "
                               f"({limit} bytes)")  # fmt: skip
        data = os.read(fd, limit + 1)  # a file that grew since fstat is still cut at the bound
    except OSError as exc:
        raise ProfileError(f"cannot read seccomp profile {profile}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ProfileError(f"seccomp profile {profile} is more than a profile can be ({limit} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"seccomp profile {profile} is not UTF-8 text (byte {exc.start})") from None


def seccomp_problems(
    profile: Path, file: str, path: KeyPath, check: Checker | None = None, shown: str | None = None
) -> list[Problem]:
    """Problems with a seccomp profile file: missing, not JSON, not a profile. Empty when fine. `shown` is
    how the scenario names the profile (the problem already names the scenario file and line)."""
    line = check.line(path) if check else None
    key = format_path(path)
    try:
        text = read_profile(profile)
    except ProfileError as exc:
        return [Problem(file, line, key, str(exc))]
    return [Problem(file, line, key, m) for m in seccomp_text_problems(text, shown or str(profile))]


def seccomp_text_problems(text: str, name: str) -> list[str]:
    """Validate seccomp profile JSON the way the engine would reject it, naming the profile's line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"invalid JSON in seccomp profile {name} at line {exc.lineno} column {exc.colno}: {exc.msg}"]
    except RecursionError:  # json parses nested arrays recursively: a hostile profile must not overflow the stack
        return [f"seccomp profile {name} nests too deeply to be a profile"]
    if not isinstance(data, dict):
        return [f"seccomp profile {name} must be a JSON object"]
    return [f"seccomp profile {name}: {where}{message}" for where, message in _profile(data)]


# What runc and libseccomp accept (moby profiles/seccomp, opencontainers/runtime-spec config-linux.md).
ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
)  # fmt: skip
OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
)  # fmt: skip
ARCHES = tuple(f"SCMP_ARCH_{a}" for a in (
    "X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL", "MIPSEL64", "MIPSEL64N32",
    "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC", "PARISC64", "RISCV64", "LOONGARCH64", "M68K", "SH", "SHEB",
))  # fmt: skip
FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)  # fmt: skip
TOP_KEYS = ("defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags", "listenerPath",
            "listenerMetadata", "comment")  # fmt: skip
RULE_KEYS = ("names", "name", "action", "args", "errnoRet", "comment", "includes", "excludes")
ARG_KEYS = ("index", "value", "valueTwo", "op")
FILTER_KEYS = ("arches", "caps", "minKernel")
UINT64 = 2**64 - 1
UINT32 = 2**32 - 1

Found = list[tuple[str, str]]  # (where in the profile, e.g. "syscalls[2].action: ", message)


def _unknown(table: dict[str, Any], known: tuple[str, ...], where: str) -> Found:
    out = []
    for key in table:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(known)}"
            out.append((f"{where}{key} ", f"is an unknown key ({hint}); the engine would ignore it"))
    return out


def _uint(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high


def _action(value: Any, where: str) -> Found:
    if not isinstance(value, str) or value not in ACTIONS:
        near = difflib.get_close_matches(value, ACTIONS, n=1) if isinstance(value, str) else []
        hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(ACTIONS)}"
        return [(where, f"must be an SCMP_ACT_* string; {value!r} is not a seccomp action ({hint})")]
    return []


def _names(value: Any, known: tuple[str, ...], where: str, what: str) -> Found:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [(where, f"must be a list of {what}, got {value!r}")]
    return [(where, f"names an unknown {what[:-1]} {v!r}") for v in value if known and v not in known]


def _profile(data: dict[str, Any]) -> Found:
    out = _unknown(data, TOP_KEYS, "")
    if "defaultAction" not in data:
        out.append(("", "'defaultAction' must be an SCMP_ACT_* string; the profile has none"))
    else:
        out += _action(data["defaultAction"], "'defaultAction' ")
    if "defaultErrnoRet" in data and not _uint(data["defaultErrnoRet"], UINT32):
        out.append(("defaultErrnoRet ", f"must be an errno number, got {data['defaultErrnoRet']!r}"))
    if "architectures" in data:
        out += _names(data["architectures"], ARCHES, "architectures ", "architectures")
    if "flags" in data:
        out += _names(data["flags"], FLAGS, "flags ", "flags")
    if "listenerPath" in data and not isinstance(data["listenerPath"], str):
        out.append(("listenerPath ", f"must be a unix socket path, got {data['listenerPath']!r}"))
    archmap = data.get("archMap", [])
    if not isinstance(archmap, list):
        out.append(("archMap ", "must be a list of { architecture, subArchitectures }"))
        archmap = []
    for n, entry in enumerate(archmap):
        where = f"archMap[{n}]."
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            out.append((f"archMap[{n}] ", "must be { architecture = 'SCMP_ARCH_...', subArchitectures = [...] }"))
            continue
        out += _unknown(entry, ("architecture", "subArchitectures"), where)
        out += _names([entry["architecture"]], ARCHES, f"{where}architecture ", "architectures")
        out += _names(entry.get("subArchitectures", []), ARCHES, f"{where}subArchitectures ", "architectures")
    syscalls = data.get("syscalls", [])
    if not isinstance(syscalls, list):
        out.append(("'syscalls' ", "must be a list"))
        syscalls = []
    for n, rule in enumerate(syscalls):
        out += _rule(rule, f"syscalls[{n}]")
    return out


def _rule(rule: Any, at: str) -> Found:
    if not isinstance(rule, dict):
        return [(f"{at} ", "must be an object")]
    out = _unknown(rule, RULE_KEYS, f"{at}.")
    names = rule.get("names", [rule["name"]] if "name" in rule else None)
    if not isinstance(names, list) or not names or not all(isinstance(s, str) and s for s in names):
        out.append((f"{at} ", "needs 'names' (a non-empty list of syscall names)"))
    if "action" not in rule:
        out.append((f"{at} ", "needs an 'action' (an SCMP_ACT_* string)"))
    else:
        out += _action(rule["action"], f"{at}.action ")
    if "errnoRet" in rule:
        if not _uint(rule["errnoRet"], UINT32):
            out.append((f"{at}.errnoRet ", f"must be an errno number, got {rule['errnoRet']!r}"))
        elif rule.get("action") not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            out.append((f"{at}.errnoRet ", "applies only to SCMP_ACT_ERRNO and SCMP_ACT_TRACE"))
    args = rule.get("args")
    if args is not None and not isinstance(args, list):
        out.append((f"{at}.args ", f"must be a list of {{ index, value, op }} objects, got {args!r}"))
        args = []
    for m, arg in enumerate(args or []):
        where = f"{at}.args[{m}]"
        if not isinstance(arg, dict):
            out.append((f"{where} ", f"must be {{ index, value, op }}, got {arg!r}"))
            continue
        out += _unknown(arg, ARG_KEYS, f"{where}.")
        if not _uint(arg.get("index"), 5):
            out.append((f"{where}.index ", f"must be an argument number from 0 to 5, got {arg.get('index')!r}"))
        for key in ("value", "valueTwo"):
            if key in arg and not _uint(arg[key], UINT64):
                out.append((f"{where}.{key} ", f"must be an unsigned 64-bit integer, got {arg[key]!r}"))
        if "value" not in arg:
            out.append((f"{where} ", "needs a 'value'"))
        op = arg.get("op")
        if op not in OPERATORS:
            near = difflib.get_close_matches(op, OPERATORS, n=1) if isinstance(op, str) else []
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(OPERATORS)}"
            out.append((f"{where}.op ", f"must be an SCMP_CMP_* comparison; {op!r} is not one ({hint})"))
    for key in ("includes", "excludes"):
        if key not in rule:
            continue
        table = rule[key]
        if not isinstance(table, dict):
            out.append((f"{at}.{key} ", "must be { arches = [...], caps = [...], minKernel = '5.8' }"))
            continue
        out += _unknown(table, FILTER_KEYS, f"{at}.{key}.")
        if "arches" in table:
            out += _names(table["arches"], (), f"{at}.{key}.arches ", "architectures")
        if "caps" in table:
            out += _names(table["caps"], (), f"{at}.{key}.caps ", "capabilities")
        kernel = table.get("minKernel", "5.8")
        if not (isinstance(kernel, str) and re.match(r"^\d+\.\d+(\.\d+)?$", kernel)):
            out.append((f"{at}.{key}.minKernel ", f"must be a kernel version such as '5.8', got {kernel!r}"))
    return out
