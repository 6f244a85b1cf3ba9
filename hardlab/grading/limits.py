"""The hard limits every graded container and submitted file is held to: their values, the docker-py options
that enforce them, and the course file's [limits] table that sets them. Pure: no pytest, no docker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hardlab import spec
from hardlab.spec.tomlpos import KeyPath

_SIZE = re.compile(r"^(\d+)([bkmg]?)$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size_bytes(value: str | int) -> int:
    """'128m' -> 134217728, the way docker-py reads mem_limit. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        return value
    found = _SIZE.match(value.strip())
    if not found:
        raise ValueError(f"not a size: {value!r} (write e.g. '128m')")
    return int(found.group(1)) * _UNITS[found.group(2).lower()]


@dataclass(frozen=True)
class Limits:
    """Hard limits on every graded container and file. Submissions can lower, never raise them."""

    mem_limit: str = "128m"
    pids_limit: int = 256
    nano_cpus: int = 1_000_000_000  # one CPU
    cpu_seconds: int = 30  # RLIMIT_CPU of every process in the container
    step_timeout: float = 30.0  # wall time of one step
    max_file_bytes: int = 64 * 1024
    max_context_bytes: int = 1024 * 1024  # a Dockerfile's build folder
    max_context_files: int = 500  # files and folders of a build folder
    build_timeout: float = 120.0
    build_log_bytes: int = 2000  # most of a failed RUN's output a student's feedback shows (its end)
    image_bytes: int = 4 * 1000**3  # most a submission's built image may weigh, its base included

    @property
    def mem_bytes(self) -> int:
        return size_bytes(self.mem_limit)

    def container(self) -> dict[str, Any]:
        """The docker-py options that enforce these limits (no swap beyond memory)."""
        return {
            "mem_limit": self.mem_limit,
            "memswap_limit": self.mem_limit,
            "pids_limit": self.pids_limit,
            "nano_cpus": self.nano_cpus,
            "ulimits": [{"name": "cpu", "soft": self.cpu_seconds, "hard": self.cpu_seconds}],
        }


LIMIT_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "mem_limit": ((str, int), "a size such as '128m'"),
    "pids_limit": ((int,), "an integer"),
    "nano_cpus": ((int,), "an integer (1000000000 = one CPU)"),
    "cpu_seconds": ((int,), "an integer number of seconds"),
    "step_timeout": ((int, float), "a number of seconds"),
    "max_file_bytes": ((int,), "an integer number of bytes"),
    "max_context_bytes": ((int,), "an integer number of bytes"),
    "build_timeout": ((int, float), "a number of seconds"),
    "max_context_files": ((int,), "an integer number of files and folders"),
    "build_log_bytes": ((int,), "an integer number of bytes (0: show none of a failed build's output)"),
    "image_bytes": ((int,), "an integer number of bytes (the built image, its base included)"),
}


def parse_limits(check: spec.Checker, raw: Any) -> Limits:
    """The course file's [limits] table; a key with a bad value is a problem and keeps its default."""
    path: KeyPath = ("limits",)
    if not isinstance(raw, dict):
        check.error(path, "must be a table")
        return Limits()
    check.keys(raw, path, LIMIT_TYPES)
    values: dict[str, Any] = {}
    for key, (kinds, what) in LIMIT_TYPES.items():
        value = check.typed(raw, key, path, kinds, what)
        if value is None:
            continue
        if key == "mem_limit":
            try:
                if size_bytes(value) < 16 * 1024**2:
                    check.error((*path, key), "must be at least 16m (a container needs memory to start)")
                    continue
            except ValueError as exc:
                check.error((*path, key), str(exc))
                continue
        elif key == "build_log_bytes" and value < 0:
            check.error((*path, key), f"must be 0 or more, got {value}")
            continue
        elif key != "build_log_bytes" and value <= 0:
            check.error((*path, key), f"must be positive, got {value}")
            continue
        values[key] = value
    if "step_timeout" in values and values["step_timeout"] > 600:
        check.error((*path, "step_timeout"), "must be at most 600 seconds")
        values.pop("step_timeout")
    return Limits(**values)
