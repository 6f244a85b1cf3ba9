"""What the container runtime calls between installing the filter and execve: a versioned data file."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from hardlab.config import DATA

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RUNTIME_FILE = DATA / "learn" / "runtime-syscalls.toml"


@dataclass(frozen=True)
class Runtime:
    version: str
    reasons: dict[str, str]  # syscall -> why the runtime needs it


def load(path: Path = RUNTIME_FILE) -> Runtime:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return Runtime(str(data["version"]), {str(e["name"]): str(e["reason"]) for e in data["syscall"]})
