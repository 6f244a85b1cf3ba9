"""One scan: read a target's packages, match them against an OSV feed, gate like klar, write the JSON report.

A folder is a rootfs; anything else is an image in the local engine (never pulled); `lab:NAME` is a lab image,
built offline when missing. `scan_target` raises on bad input; `run_scan` is `hardlab scan` as a library call:
the exit code, the table and the error text, for the command and for a scenario's scan step alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hardlab.engine.images import ImageError
from hardlab.errors import HardlabError
from hardlab.outcomes import Exit
from hardlab.scan import report
from hardlab.scan.backends import BACKENDS, run_external
from hardlab.scan.feed import FeedError, Severity, load_feed
from hardlab.scan.inventory import Inventory, NoPackageDatabase, read_rootfs
from hardlab.scan.lab import resolve_target
from hardlab.scan.matching import match
from hardlab.scan.model import Gate, ScanResult

# What stops a scan before it can judge anything (exit 2): bad feed, no package database, image not in the
# engine (LookupError), no such folder, no engine answering.
SCAN_ERRORS = (FeedError, NoPackageDatabase, LookupError, FileNotFoundError, RuntimeError, HardlabError)


def inventory_of(target: str) -> Inventory:
    """A folder is a rootfs; anything else is an image in the local engine."""
    if os.path.isdir(target):
        return read_rootfs(target)
    from hardlab.scan.image import read_image  # docker only when an image is scanned

    if target.startswith("lab:"):  # lab:tools, lab:tools-slim, lab:busybox: built offline when missing
        try:
            return read_image(resolve_target(target))
        except ImageError as exc:
            raise RuntimeError(str(exc)) from None
    return read_image(target)


def scan_target(
    target: str,
    feed_dir: str | Path,
    severity: str | Severity = "High",
    threshold: int = 15,
    backend: str = "builtin",
    report_dir: str | Path | None = None,
    output: str | Path | None = None,
) -> ScanResult:
    """Scan, gate and write the JSON report. Raises FeedError / NoPackageDatabase / LookupError on bad input."""
    gate = Gate(severity if isinstance(severity, Severity) else Severity.parse(severity), threshold)
    feed = load_feed(feed_dir)
    inventory = inventory_of(target)
    results = {"builtin": match(inventory, feed)}
    notes: list[str] = []
    if backend != "builtin":
        name, findings, note = run_external(backend, target, is_rootfs=os.path.isdir(target))
        notes.append(note)
        if findings is not None:
            results[name] = findings
    result = ScanResult(target, inventory, feed, results, gate, notes)
    path = Path(output) if output else report.report_path(target, report_dir)
    result.report = report.write_report(path, target, inventory, feed, results, gate, notes)
    return result


@dataclass
class ScanRun:
    """What one `hardlab scan` did: its exit code, its table (stdout) and its error (stderr)."""

    exit_code: int  # an outcomes.Exit value
    text: str
    error: str = ""
    result: ScanResult | None = None  # None when the scan could not run


def options_problem(severity: str, threshold: int, backend: str) -> str | None:
    """Why these gate options are unusable (for `--severity` and friends), or None."""
    if threshold < 0:
        return "--threshold must be >= 0"
    try:
        Severity.parse(severity)
    except ValueError as exc:
        return f"--severity: {exc}"
    if backend not in BACKENDS:
        return f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}"
    return None


def run_scan(
    target: str,
    feed_dir: str | Path,
    severity: str = "High",
    threshold: int = 0,
    backend: str = "builtin",
    report_dir: str | Path | None = None,
    output: str | Path | None = None,
) -> ScanRun:
    """`hardlab scan` without the command line: exit 0 gate passed, 1 gate failed, 2 the scan could not run."""
    problem = options_problem(severity, threshold, backend)
    if problem:
        return ScanRun(int(Exit.HARNESS), "", f"hardlab scan: {problem}\n")
    try:
        result = scan_target(target, feed_dir, severity, threshold, backend, report_dir, output)
    except SCAN_ERRORS as exc:
        return ScanRun(int(Exit.HARNESS), "", f"hardlab scan: {exc}\n")
    return ScanRun(result.exit_code, report.summary(result), "", result)
