"""Collecting the problems of one input file, each with its file, line and key path.

Scenario files and course files (hardlab.grading.course) are checked the same way: every problem of a
file is collected, then all are raised together as one `ScenarioError`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab.errors import Problem, ProblemsError
from hardlab.spec.tomlpos import KeyPath, format_path, line_index, line_of


class ScenarioError(ProblemsError):
    """Everything wrong with one scenario (or input) file, each problem with file, line and key."""


def display_path(path: Path, root: Path | None) -> str:
    """How problems name `path`: relative to `root` (default: the current folder) when it is inside it."""
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


def toml_error_line(message: str) -> int | None:
    """The line a `tomllib.TOMLDecodeError` message points at, if it names one."""
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


class Checker:
    """Collects problems for one file, each with the line of its key path."""

    def __init__(self, file: str, text: str, base: Path):
        self.file = file
        self.base = base  # relative paths in the file are relative to its folder
        self.index = line_index(text)
        self.problems: list[Problem] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.file, self.line(path), format_path(path), message))

    def line(self, path: KeyPath) -> int | None:
        """The line of `path`; for a case key the case does not write itself, the [defaults] line it came from."""
        if len(path) > 2 and path[0] == "case" and isinstance(path[1], int):
            own, inherited = self._depth(path), self._depth(("defaults", *path[2:]))
            if inherited > 1 and inherited - 1 > own - 2:
                return line_of(self.index, ("defaults", *path[2:]))
        return line_of(self.index, path)

    def _depth(self, path: KeyPath) -> int:
        """How many parts of `path` the line index knows (the longest ancestor written in the file)."""
        return next((n for n in range(len(path), 0, -1) if path[:n] in self.index), 0)

    def keys(self, table: Mapping[str, Any], path: KeyPath, allowed: set[str] | dict[str, Any]) -> None:
        """An "unknown key" problem for every key of `table` not in `allowed`, with a did-you-mean."""
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else f" (allowed: {', '.join(sorted(allowed))})"
                self.error((*path, key), f"unknown key{hint}")

    def typed(self, table: Mapping[str, Any], key: str, path: KeyPath, kinds: tuple[type, ...], what: str) -> Any:
        """`table[key]` when it is one of `kinds`; None (and a problem naming `what`) when it is not."""
        if key not in table:
            return None
        value = table[key]
        # bool is an int in Python; a scenario that writes `exit_code = true` means something else.
        if isinstance(value, bool) and bool not in kinds:
            self.error((*path, key), f"expected {what}, got {value!r}")
            return None
        if not isinstance(value, kinds):
            self.error((*path, key), f"expected {what}, got {value!r}")
            return None
        return value

    def text(self, table: Mapping[str, Any], key: str, path: KeyPath, required: bool = False) -> str | None:
        if required and key not in table:
            self.error((*path, key), "is required")
            return None
        value = self.typed(table, key, path, (str,), "a string")
        if value is not None and not value.strip() and required:
            self.error((*path, key), "must not be empty")
        return value

    def strings(self, table: Mapping[str, Any], key: str, path: KeyPath, allow_single: bool = True) -> tuple[str, ...]:
        """A list of strings (or, with `allow_single`, one string as a one-item list); () when absent."""
        value = table.get(key)
        if value is None:
            return ()
        if isinstance(value, str) and allow_single:
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error((*path, key), f"expected a list of strings, got {value!r}")
            return ()
        if not value:
            self.error((*path, key), "must not be an empty list (leave the key out instead)")
        return tuple(value)

    def timeout(self, table: Mapping[str, Any], path: KeyPath, default: float) -> float:
        """`table.timeout` in seconds (0 < t <= 600), or `default` when it is absent or wrong."""
        value = self.typed(table, "timeout", path, (int, float), "a number of seconds")
        if value is None:
            return default
        if not 0 < value <= 600:
            self.error((*path, "timeout"), f"must be between 0 and 600 seconds, got {value}")
            return default
        return float(value)
