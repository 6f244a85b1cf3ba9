"""`hardlab report [RESULTS...] [-o OUT]`: each run's summary.json as one self-contained HTML page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hardlab import config
from hardlab.cli.args import new_parser
from hardlab.core.htmlreport import render
from hardlab.outcomes import Exit


def parser() -> argparse.ArgumentParser:
    """`hardlab report`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab report", "Render each results file (a run's summary.json, the audit's results.json) "
                   "as one self-contained HTML page beside it (report.html): no server, no network, no JavaScript.")
    p.add_argument("results", nargs="*", type=Path,
                   help="summary.json or results.json files (default $HARDLAB_REPORTS/summary.json)")
    p.add_argument("-o", "--output", type=Path, help="the page's path (one results file only)")
    return p


def main(argv: list[str]) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    files = args.results or [config.reports_dir() / "summary.json"]
    if args.output and len(files) > 1:
        cli.error("--output takes one results file")
    for file in files:
        try:
            data = json.loads(file.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise ValueError("not a hardlab summary: no results list")
        except (OSError, ValueError) as exc:
            print(f"hardlab report: {file}: {exc}", file=sys.stderr)
            return Exit.HARNESS
        page = args.output or file.with_name("report.html" if file.name == "summary.json" else f"{file.stem}.html")
        title = "hardlab audit" if "harness_problems" in data else "hardlab run"
        page.write_text(render(data, title))
        print(f"report: {page}")
    return Exit.OK
