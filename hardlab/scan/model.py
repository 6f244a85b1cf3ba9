"""What a scan produces: findings, the klar gate that judges them, and one scan's result. Pure data."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hardlab.outcomes import Exit
from hardlab.scan.feed import Feed, Severity
from hardlab.scan.inventory import Inventory


@dataclass
class Finding:
    id: str
    source: str  # source package (Debian) / origin (Alpine): what the advisory names
    packages: list[str]  # installed binary packages built from it
    installed: str  # the version compared (source version)
    fixed: str | None  # None: no fixed version known
    severity: Severity
    summary: str = ""
    aliases: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.label
        return data


@dataclass(frozen=True)
class Gate:
    """klar's gate (CLAIR_OUTPUT / CLAIR_THRESHOLD): fail when the count at or above `severity` is *greater
    than* `threshold` (count == threshold passes)."""

    severity: Severity
    threshold: int

    def count(self, findings: list[Finding]) -> int:
        return sum(1 for f in findings if f.severity >= self.severity)

    def passed(self, findings: list[Finding]) -> bool:
        return self.count(findings) <= self.threshold


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {s.label: counts.get(s, 0) for s in sorted(Severity, reverse=True)}


@dataclass
class ScanResult:
    target: str
    inventory: Inventory | None
    feed: Feed
    results: dict[str, list[Finding]]  # backend name -> findings; "builtin" always present
    gate: Gate
    notes: list[str]
    report: Path | None = None

    @property
    def passed(self) -> bool:
        return all(self.gate.passed(fs) for fs in self.results.values())

    @property
    def findings(self) -> list[Finding]:
        return self.results["builtin"]

    @property
    def exit_code(self) -> int:
        """`hardlab scan`'s exit code for this result: 0 every gate passed, 1 a gate failed."""
        return int(Exit.OK if self.passed else Exit.FINDINGS)
