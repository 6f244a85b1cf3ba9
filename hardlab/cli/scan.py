"""`hardlab scan IMAGE|ROOTFS --feed DIR --severity High --threshold 15`: match packages against an OSV feed.

The gate is klar's (CLAIR_OUTPUT / CLAIR_THRESHOLD): count the findings at or above a severity and fail when
that count is *greater than* the threshold (count == threshold passes). Exit codes: 0 gate passed, 1 gate
failed, 2 the scan could not run (bad feed, no package database, image not found).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hardlab.cli.args import new_parser
from hardlab.core import sarif
from hardlab.outcomes import Exit
from hardlab.scan.backends import BACKENDS
from hardlab.scan.model import ScanResult
from hardlab.scan.run import options_problem, run_scan


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"hardlab scan: {name}={value!r} is not an integer") from None


def parser() -> argparse.ArgumentParser:
    p = new_parser(
        "hardlab scan",
        "Match an image's (or rootfs') packages against an offline OSV feed and "
        "gate like klar: fail when the count at or above --severity is greater than --threshold.",
        epilog="scan: 0 gate passed, 1 gate failed, 2 could not scan (bad feed, no package database, "
        "image not in the engine, engine down)",
    )
    p.add_argument("target", help="local image (never pulled) or an unpacked rootfs folder")
    p.add_argument("--feed", required=True, help="OSV advisories: a folder of *.json or one file")
    # klar's environment variables work as defaults, so the seed's command line reads the same here.
    p.add_argument(
        "--severity",
        default=os.environ.get("CLAIR_OUTPUT", "High"),
        help="count findings at or above this (Unknown < Negligible < Low < Medium < High < "
        "Critical); default $CLAIR_OUTPUT or High",
    )
    p.add_argument(
        "--threshold",
        type=int,
        default=_env_int("CLAIR_THRESHOLD", 0),
        help="fail when the count is greater than this; default $CLAIR_THRESHOLD or 0",
    )
    p.add_argument(
        "--backend",
        default="builtin",
        choices=list(BACKENDS),
        help="also run trivy/grype when installed and able to work offline",
    )
    p.add_argument("--report-dir", default=None, help="folder for the JSON report, named after the target "
                   "(default: $HARDLAB_REPORTS or reports/)")
    p.add_argument("-o", "--output", default=None, metavar="PATH", help="write the JSON report to PATH instead")
    p.add_argument("--sarif", default=None, metavar="PATH", help="also write the findings as SARIF 2.1.0 to PATH")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    return p


def main(argv: list[str]) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    problem = options_problem(args.severity, args.threshold, args.backend)
    if problem:
        cli.error(problem)
    done = run_scan(args.target, args.feed, args.severity, args.threshold, args.backend, args.report_dir,
                    args.output)  # fmt: skip
    if done.result is None:
        print(done.error, end="", file=sys.stderr)
        return int(Exit.HARNESS)
    if args.sarif:
        write_sarif(Path(args.sarif), done.result)
    if args.json and done.result.report:
        print(done.result.report.read_text(), end="")
    else:
        print(done.text, end="")
    return done.exit_code


def write_sarif(path: Path, result: ScanResult) -> Path:
    """Every finding of every backend as a SARIF result on the scanned image (or rootfs folder): an error when
    the gate counts it (at or above --severity), a note otherwise."""
    findings = [
        sarif.Finding(rule=f.id, title=f.summary or f.id,
                      level="error" if f.severity >= result.gate.severity else "note",
                      message=f"{f.id} ({f.severity.label}) in {f.source} {f.installed} "
                      f"({', '.join(f.packages)}); fixed in {f.fixed or 'no fixed version known'}",
                      logical=result.target, file=result.target if Path(result.target).is_dir() else "",
                      properties={"backend": backend, "severity": f.severity.label, "aliases": f.aliases})
        for backend, fs in result.results.items() for f in fs
    ]  # fmt: skip
    return sarif.write(path, sarif.document(findings, tool="hardlab scan"))
