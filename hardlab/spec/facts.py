"""The engine facts an expectation may depend on, and how a condition on one is written.

A step's `[[...step.when]]` rule names facts with a condition each: a version range for versions
(`engine = ">=23.0"`, `kernel = ">=4.8, <6"`), a name or list of names (`runtime = "crun"`), a value
(`cgroup = "2"`, `rootless = true`). Pure: parsing and comparing only; the probe finds the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# fact -> (kind, what it is). Kinds: "version" (a range), "name" (one of names), "value", "bool".
FACTS: dict[str, tuple[str, str]] = {
    "engine": ("version", "the Docker Engine's version (docker info ServerVersion)"),
    "runtime": ("name", "the engine's default OCI runtime (runc, crun, ...)"),
    "runtime_version": ("version", "the default OCI runtime's version"),
    "kernel": ("version", "the kernel release the engine runs on"),
    "cgroup": ("value", "the cgroup version the engine uses (1 or 2)"),
    "rootless": ("bool", "whether the engine runs rootless"),
}
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)\s*$")


def version_tuple(text: str | None) -> tuple[int, ...]:
    """'26.1.5+dfsg1' -> (26, 1, 5); '6.18.44-fc-v1045' -> (6, 18, 44); unknown -> ()."""
    found = re.match(r"v?(\d+(?:\.\d+)*)", (text or "").strip())
    return tuple(int(p) for p in found.group(1).split(".")) if found else ()


@dataclass(frozen=True)
class VersionRange:
    """`>=23.0, <27`: every clause must hold. Versions compare numerically, part by part (missing = 0)."""

    clauses: tuple[tuple[str, tuple[int, ...]], ...]
    text: str

    def contains(self, version: tuple[int, ...]) -> bool:
        return all(_compare(version, op, bound) for op, bound in self.clauses)


def parse_range(text: str) -> VersionRange:
    """A version range, or ValueError saying what a range looks like."""
    clauses = []
    for part in text.split(","):
        found = _CLAUSE.match(part)
        if not found:
            raise ValueError(f"{text!r} is not a version range (e.g. '>=23.0' or '>=20.10.25, <21')")
        clauses.append((found.group(1), tuple(int(p) for p in found.group(2).split("."))))
    return VersionRange(tuple(clauses), text)


def _compare(version: tuple[int, ...], op: str, bound: tuple[int, ...]) -> bool:
    width = max(len(version), len(bound))
    a, b = version + (0,) * (width - len(version)), bound + (0,) * (width - len(bound))
    return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "==": a == b, "!=": a != b}[op]
