"""A scan's outputs: the table `hardlab scan` prints and the JSON report it writes. No docker, no printing."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

from hardlab import __version__, config
from hardlab.scan.feed import Feed, Severity
from hardlab.scan.inventory import Inventory
from hardlab.scan.model import Finding, Gate, ScanResult, severity_counts


def _short(names: list[str], keep: int = 2) -> str:
    return ", ".join(names[:keep]) + (f" +{len(names) - keep}" if len(names) > keep else "")


def render(
    target: str,
    inventory: Inventory | None,
    feed: Feed,
    backend: str,
    findings: list[Finding],
    gate: Gate,
    notes: list[str],
) -> str:
    lines = [f"hardlab scan {target}"]
    if inventory:
        lines.append(
            f"  system   {inventory.pretty_name} ({inventory.distro} {inventory.version_id or '?'}), "
            f"{len(inventory.packages)} {inventory.kind} packages"
        )
    lines.append(f"  feed     {feed.path}: {len(feed.advisories)} advisories in {feed.files} files")
    lines.append(f"  backend  {backend}")
    lines += [f"  note     {n}" for n in notes]
    counts = severity_counts(findings)
    lines.append(f"Found {len(findings)} vulnerabilities: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if findings:
        rows = [("SEVERITY", "ID", "SOURCE (INSTALLED PACKAGES)", "INSTALLED", "FIXED")]
        rows += [
            (f.severity.label, f.id, f"{f.source} ({_short(f.packages)})", f.installed, f.fixed or "not fixed")
            for f in findings
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[4] for r in rows]
    unknown = sum(1 for f in findings if f.severity is Severity.UNKNOWN)
    if unknown and gate.severity > Severity.UNKNOWN:
        # Debian's own OSV entries carry no severity: say so, rather than let a real export "pass" silently.
        lines.append(
            f"note: {unknown} finding(s) have no severity in the feed (Unknown) and are not counted at "
            f"{gate.severity.label}; use --severity Unknown to count every finding"
        )
    count = gate.count(findings)
    verdict = "PASS" if count <= gate.threshold else "FAIL"
    lines.append(
        f"gate: {count} at or above {gate.severity.label}, threshold {gate.threshold} -> {verdict} "
        "(fails when the count is greater than the threshold)"
    )
    lines.append(f"Status: {'pass' if verdict == 'PASS' else 'fail'}")  # the line Anchore's evaluation prints
    return "\n".join(lines)


def summary(result: ScanResult) -> str:
    """The whole table output of `hardlab scan` for a result: the built-in matcher's table, one gate line per
    external backend, and where the JSON report went (newline-terminated, as printed)."""
    lines = [
        render(result.target, result.inventory, result.feed, "builtin matcher", result.findings, result.gate,
               result.notes)
    ]  # fmt: skip
    gate = result.gate
    for name, findings in result.results.items():
        if name != "builtin":
            c = gate.count(findings)
            lines.append(
                f"gate ({name}): {c} at or above {gate.severity.label}, threshold "
                f"{gate.threshold} -> {'PASS' if c <= gate.threshold else 'FAIL'}"
            )
    lines.append(f"report: {result.report}")
    return "\n".join(lines) + "\n"


def report_path(target: str, directory: str | Path | None = None) -> Path:
    base = Path(directory) if directory else config.reports_dir()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_")[-60:] or "target"
    # pid + random suffix: two scans in the same second (xdist workers, a gate boundary) never overwrite
    return base / f"scan-{slug}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(2)}.json"


def write_report(
    path: Path,
    target: str,
    inventory: Inventory | None,
    feed: Feed,
    results: dict[str, list[Finding]],
    gate: Gate,
    notes: list[str],
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    backends = {
        name: {
            "count": gate.count(fs),
            "passed": gate.passed(fs),
            "counts": severity_counts(fs),
            "findings": [f.as_json() for f in fs],
        }
        for name, fs in results.items()
    }
    data: dict[str, object] = {
        "tool": "hardlab scan",
        "version": __version__,
        "target": target,
        "system": None
        if inventory is None
        else {
            "id": inventory.distro,
            "version_id": inventory.version_id,
            "pretty_name": inventory.pretty_name,
            "database": inventory.kind,
            "packages": len(inventory.packages),
        },
        "feed": {"path": str(feed.path), "advisories": len(feed.advisories), "files": feed.files},
        "notes": notes,
        "gate": {"severity": gate.severity.label, "threshold": gate.threshold, "rule": "fail when count > threshold"},
        "backends": backends,
        "passed": all(gate.passed(fs) for fs in results.values()),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
