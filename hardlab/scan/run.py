"""`hardlab scan IMAGE|ROOTFS --feed DIR --severity High --threshold 15`: match packages against an OSV feed.

The gate is klar's (CLAIR_OUTPUT / CLAIR_THRESHOLD): count the findings at or above a severity and fail when
that count is *greater than* the threshold (count == threshold passes). Exit codes: 0 gate passed, 1 gate
failed, 2 the scan could not run (bad feed, no package database, image not found).

The matching functions are pure (no docker, no pytest); only `scan_target` touches the engine.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import re
import secrets
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hardlab.scan.feed import Affected, Feed, FeedError, Severity, load_feed
from hardlab.scan.inventory import Inventory, NoPackageDatabase, read_rootfs
from hardlab.scan.versions import compare

FAMILY = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine"}


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
    severity: Severity
    threshold: int

    def count(self, findings: list[Finding]) -> int:
        return sum(1 for f in findings if f.severity >= self.severity)

    def passed(self, findings: list[Finding]) -> bool:
        return self.count(findings) <= self.threshold


# --------------------------------------------------------------------------------------------- matching


def release_matches(affected: Affected, inventory: Inventory) -> bool:
    """`Debian:12` ↔ VERSION_ID 12; `Alpine:v3.19` ↔ 3.19.x; no release in the ecosystem matches any."""
    if affected.family != FAMILY.get(inventory.distro):
        return False
    release = affected.release
    if not release:
        return True
    if affected.family == "Alpine":
        return release == "v" + ".".join(inventory.version_id.split(".")[:2])
    return release == inventory.version_id


def _event_order(kind: str, a: tuple[str, str], b: tuple[str, str]) -> int:
    if a[1] == "0" and a[0] == "introduced":  # "0" means "since forever"
        return -1 if b != a else 0
    if b[1] == "0" and b[0] == "introduced":
        return 1
    return compare(kind, a[1], b[1])


def in_range(kind: str, version: str, events: tuple[tuple[str, str], ...]) -> tuple[bool, str | None]:
    """OSV range evaluation: (affected?, the fixed version that ends the range the version sits in)."""
    ordered = sorted(events, key=functools.cmp_to_key(functools.partial(_event_order, kind)))
    affected = False
    for event, bound in ordered:
        if event == "introduced":
            if bound == "0" or compare(kind, version, bound) >= 0:
                affected = True
            else:
                break
        elif event in ("fixed", "limit"):
            if compare(kind, version, bound) >= 0:
                affected = False
            else:
                return affected, bound if (affected and event == "fixed") else None
        elif event == "last_affected":
            if compare(kind, version, bound) > 0:
                affected = False
            else:
                return affected, None
    return affected, None


def match(inventory: Inventory, feed: Feed) -> list[Finding]:
    """One finding per (advisory, source package), naming every installed binary package built from it."""
    by_source: dict[str, list] = {}
    for pkg in inventory.packages:
        by_source.setdefault(pkg.source, []).append(pkg)
    found: dict[tuple[str, str], Finding] = {}
    for adv in feed.advisories:
        for aff in adv.affected:
            pkgs = by_source.get(aff.name)
            if not pkgs or not release_matches(aff, inventory):
                continue
            for pkg in pkgs:
                hit, fixed = pkg.source_version in aff.versions, None
                for rng in aff.ranges:
                    in_it, fix = in_range(pkg.kind, pkg.source_version, rng.events)
                    if in_it:
                        hit, fixed = True, fix or fixed
                if not hit:
                    continue
                key = (adv.id, aff.name)
                if key in found:
                    if pkg.name not in found[key].packages:
                        found[key].packages.append(pkg.name)
                    continue
                found[key] = Finding(
                    adv.id,
                    aff.name,
                    [pkg.name],
                    pkg.source_version,
                    fixed,
                    aff.severity,
                    adv.summary,
                    list(adv.aliases),
                )
    for finding in found.values():
        finding.packages.sort()
    return sorted(found.values(), key=lambda f: (-f.severity, f.source, f.id))


def severity_counts(findings: list[Finding]) -> dict[str, int]:
    counts = Counter(f.severity for f in findings)
    return {s.label: counts.get(s, 0) for s in sorted(Severity, reverse=True)}


# --------------------------------------------------------------------------------------------- output


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


def report_path(target: str, directory: str | Path | None = None) -> Path:
    base = Path(directory or os.environ.get("HARDLAB_REPORTS_DIR", "reports"))
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
    data = {
        "tool": "hardlab scan",
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
        "backends": {
            name: {
                "count": gate.count(fs),
                "passed": gate.passed(fs),
                "counts": severity_counts(fs),
                "findings": [f.as_json() for f in fs],
            }
            for name, fs in results.items()
        },
    }
    data["passed"] = all(b["passed"] for b in data["backends"].values())
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------- entry points


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


def inventory_of(target: str) -> Inventory:
    """A folder is a rootfs; anything else is an image in the local engine."""
    if os.path.isdir(target):
        return read_rootfs(target)
    from hardlab.scan.image import read_image  # docker only when an image is scanned

    if target.startswith("lab:"):  # lab:tools, lab:tools-slim, lab:busybox: built offline when missing
        from hardlab.engine.images import ImageError
        from hardlab.hoststeps import resolve_target

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
) -> ScanResult:
    """Scan, gate and write the JSON report. Raises FeedError / NoPackageDatabase / LookupError on bad input."""
    gate = Gate(severity if isinstance(severity, Severity) else Severity.parse(severity), threshold)
    feed = load_feed(feed_dir)
    inventory = inventory_of(target)
    results = {"builtin": match(inventory, feed)}
    notes: list[str] = []
    if backend != "builtin":
        from hardlab.scan.backends import run_external

        name, findings, note = run_external(backend, target, is_rootfs=os.path.isdir(target))
        notes.append(note)
        if findings is not None:
            results[name] = findings
    result = ScanResult(target, inventory, feed, results, gate, notes)
    result.report = write_report(report_path(target, report_dir), target, inventory, feed, results, gate, notes)
    return result


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"hardlab scan: {name}={value!r} is not an integer") from None


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`hardlab scan ARGV` in-process, for a scenario step: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hardlab scan",
        description="Match an image's (or rootfs') packages against an offline OSV feed and "
        "gate like klar: fail when the count at or above --severity is greater than --threshold.",
        epilog="exit codes: 0 gate passed, 1 gate failed, 2 could not scan (bad feed, no package database, "
        "image not in the engine)",
    )
    parser.add_argument("target", help="local image (never pulled) or an unpacked rootfs folder")
    parser.add_argument("--feed", required=True, help="OSV advisories: a folder of *.json or one file")
    # klar's environment variables work as defaults, so the seed's command line reads the same here.
    parser.add_argument(
        "--severity",
        default=os.environ.get("CLAIR_OUTPUT", "High"),
        help="count findings at or above this (Unknown < Negligible < Low < Medium < High < "
        "Critical); default $CLAIR_OUTPUT or High",
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=_env_int("CLAIR_THRESHOLD", 0),
        help="fail when the count is greater than this; default $CLAIR_THRESHOLD or 0",
    )
    parser.add_argument(
        "--backend",
        default="builtin",
        choices=["builtin", "trivy", "grype", "auto"],
        help="also run trivy/grype when installed and able to work offline",
    )
    parser.add_argument("--report-dir", default=None, help="where the JSON report goes (default: reports/)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    args = parser.parse_args(argv)
    if args.threshold < 0:
        parser.error("--threshold must be >= 0")
    try:
        Severity.parse(args.severity)
    except ValueError as exc:
        parser.error(f"--severity: {exc}")
    try:
        result = scan_target(args.target, args.feed, args.severity, args.threshold, args.backend, args.report_dir)
    except (FeedError, NoPackageDatabase, LookupError, FileNotFoundError, RuntimeError) as exc:
        print(f"hardlab scan: {exc}", file=sys.stderr)
        return 2
    if args.json and result.report:
        print(result.report.read_text(), end="")
    else:
        print(
            render(
                result.target,
                result.inventory,
                result.feed,
                "builtin matcher",
                result.findings,
                result.gate,
                result.notes,
            )
        )
        for name, findings in result.results.items():
            if name != "builtin":
                c = result.gate.count(findings)
                print(
                    f"gate ({name}): {c} at or above {result.gate.severity.label}, threshold "
                    f"{result.gate.threshold} -> {'PASS' if c <= result.gate.threshold else 'FAIL'}"
                )
        print(f"report: {result.report}")
    return 0 if result.passed else 1
