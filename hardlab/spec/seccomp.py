"""Seccomp profiles: the checks the engine would reject a profile for, made before a container starts."""

from __future__ import annotations

import json
from pathlib import Path

from hardlab.errors import Problem
from hardlab.spec.checker import Checker
from hardlab.spec.tomlpos import KeyPath, format_path


def seccomp_problems(profile: Path, file: str, path: KeyPath, check: Checker | None = None) -> list[Problem]:
    """Problems with a seccomp profile file: missing, not JSON, not a profile. Empty when fine."""
    line = check.line(path) if check else None
    key = format_path(path)
    try:
        text = profile.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [Problem(file, line, key, f"seccomp profile not found: {profile}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(file, line, key, f"cannot read seccomp profile {profile}: {exc}")]
    return [Problem(file, line, key, m) for m in seccomp_text_problems(text, str(profile))]


def seccomp_text_problems(text: str, name: str) -> list[str]:
    """Validate seccomp profile JSON the way the engine would reject it, naming the profile's line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"invalid JSON in seccomp profile {name} at line {exc.lineno} column {exc.colno}: {exc.msg}"]
    if not isinstance(data, dict):
        return [f"seccomp profile {name} must be a JSON object"]
    problems = []
    if not isinstance(data.get("defaultAction"), str) or not data["defaultAction"].startswith("SCMP_ACT_"):
        problems.append(f"seccomp profile {name}: 'defaultAction' must be an SCMP_ACT_* string")
    syscalls = data.get("syscalls", [])
    if not isinstance(syscalls, list):
        problems.append(f"seccomp profile {name}: 'syscalls' must be a list")
        syscalls = []
    for n, rule in enumerate(syscalls):
        if not isinstance(rule, dict):
            problems.append(f"seccomp profile {name}: syscalls[{n}] must be an object")
            continue
        names = rule.get("names", [rule["name"]] if "name" in rule else None)
        if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
            problems.append(f"seccomp profile {name}: syscalls[{n}] needs 'names' (a list of syscall names)")
        if not isinstance(rule.get("action"), str) or not rule["action"].startswith("SCMP_ACT_"):
            problems.append(f"seccomp profile {name}: syscalls[{n}].action must be an SCMP_ACT_* string")
    return problems
