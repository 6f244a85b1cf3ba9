"""Host profiles: what a host MUST enforce. Pure: no pytest, no docker.

    schema_version = 1
    [profile]
    name = "hardened"
    description = "..."
    require = ["userns-remap", "apparmor", "content-trust", "auditd"]   # missing = failure, not skip
    allow_insecure_registries = []                                      # anything else = failure
    log_drivers = ["json-file", "journald", "local"]                    # empty = any but "none"
    [waive]
    "2.15" = "live-restore conflicts with our swarm nodes (ticket OPS-12)"  # CIS id or check id -> reason

A feature the profile requires and the host lacks fails the check; a feature it does not require is a
reasoned skip. Every problem names the file, the line and the key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardlab.errors import Problem as ProfileProblem
from hardlab.errors import ProblemsError
from hardlab.spec.tomlpos import KeyPath, format_path, line_index, line_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1

# Features a host may legitimately lack; a profile decides whether lacking one is a failure.
PROFILE_FEATURES = {
    "userns-remap": "the engine remaps container root to an unprivileged host uid (CIS 2.9)",
    "apparmor": "the engine confines containers with AppArmor (CIS 5.2)",
    "selinux": "the engine runs with SELinux support (CIS 5.3)",
    "content-trust": "the Docker client verifies image signatures: DOCKER_CONTENT_TRUST=1 (CIS 4.5)",
    "auditd": "auditd is installed and its rules can be read (CIS 1.1.3-1.1.18)",
    "seccomp": "the engine applies seccomp profiles (CIS 5.22)",
    "cgroup-pids": "the pids cgroup controller is available (CIS 5.29)",
    "local-engine": "the engine runs on the auditing machine, so its files can be read",
    "tls": "the engine is reached over TCP only with TLS client verification (CIS 2.7)",
}


class ProfileError(ProblemsError):
    """A host profile that cannot be used; every problem listed with file, line and key."""


@dataclass(frozen=True)
class HostProfile:
    name: str = "default"
    description: str = "no host profile: missing features are reasoned skips"
    require: frozenset[str] = frozenset()
    allow_insecure_registries: tuple[str, ...] = ()
    log_drivers: tuple[str, ...] = ()
    waive: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def waiver(self, check_id: str, cis: str) -> str | None:
        return self.waive.get(check_id) or (self.waive.get(cis) if cis else None)


DEFAULT = HostProfile()


def load(path: str | Path) -> HostProfile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = ProfileProblem(str(path), None, "", f"cannot read the host profile: {exc.strerror}")
        raise ProfileError([problem]) from exc
    return parse(text, str(path))


def parse(text: str, file: str) -> HostProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        import re

        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise ProfileError([ProfileProblem(file, line, "", f"not TOML: {exc}")]) from exc
    index = line_index(text)
    problems: list[ProfileProblem] = []

    def error(key: KeyPath, message: str) -> None:
        problems.append(ProfileProblem(file, line_of(index, key), format_path(key), message))

    unknown = set(data) - {"schema_version", "profile", "waive"}
    for key in sorted(unknown):
        error((key,), "unknown key (expected schema_version, [profile], [waive])")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        error(("schema_version",), f"must be {SCHEMA_VERSION}, got {version!r}")
    prof = data.get("profile")
    if not isinstance(prof, dict):
        error(("profile",), "a [profile] table is required")
        prof = {}
    allowed = {"name", "description", "require", "allow_insecure_registries", "log_drivers"}
    for key in sorted(set(prof) - allowed):
        error(("profile", key), f"unknown key; expected one of {', '.join(sorted(allowed))}")
    name = prof.get("name", Path(file).stem)
    if not isinstance(name, str) or not name:
        error(("profile", "name"), f"must be a non-empty string, got {name!r}")
        name = Path(file).stem
    description = prof.get("description", "")
    if not isinstance(description, str):
        error(("profile", "description"), "must be a string")
        description = ""
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("require", "allow_insecure_registries", "log_drivers"):
        value = prof.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            error(("profile", key), f"must be a list of strings, got {value!r}")
            value = []
        lists[key] = tuple(value)
    for feature in lists["require"]:
        if feature not in PROFILE_FEATURES:
            import difflib

            close = difflib.get_close_matches(feature, PROFILE_FEATURES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            error(("profile", "require"), f"unknown feature {feature!r}{hint}; known: {', '.join(PROFILE_FEATURES)}")
    waive = data.get("waive", {})
    if not isinstance(waive, dict):
        error(("waive",), 'must be a table of check id = "reason"')
        waive = {}
    for key, reason in waive.items():
        if not isinstance(reason, str) or not reason.strip():
            error(("waive", key), "a waiver needs a non-empty reason string")
    if problems:
        raise ProfileError(problems)
    return HostProfile(
        name=name,
        description=description,
        require=frozenset(lists["require"]),
        allow_insecure_registries=lists["allow_insecure_registries"],
        log_drivers=lists["log_drivers"],
        waive={k: v for k, v in waive.items() if isinstance(v, str)},
        path=file,
    )


def as_dict(profile: HostProfile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "path": profile.path,
        "require": sorted(profile.require),
        "allow_insecure_registries": list(profile.allow_insecure_registries),
        "log_drivers": list(profile.log_drivers),
        "waive": dict(profile.waive),
    }
