"""`hardlab doctor [--json] [PATHS...]`: what this host's engine and kernel can enforce, and which
scenarios will run or skip here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hardlab.cli.args import new_parser
from hardlab.outcomes import Exit


def parser() -> argparse.ArgumentParser:
    """`hardlab doctor`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab doctor", "Probe the engine and kernel (in labelled probe containers): what this "
                   "host can enforce, and which scenarios will run or skip here.")  # fmt: skip
    p.add_argument("paths", nargs="*", default=["scenarios"], help="scenario files or folders (default scenarios)")
    p.add_argument("--json", action="store_true", help="print the probe's facts as JSON")
    return p


def main(argv: list[str]) -> int:
    """`hardlab doctor [--json] [scenarios-dir]`."""
    args = parser().parse_args(argv)
    from hardlab.engine.client import EngineError, connect
    from hardlab.engine.probe import probe, render

    try:
        client = connect()
        facts = probe(client)
    except EngineError as exc:
        print(f"hardlab doctor: {exc}", file=sys.stderr)
        return Exit.HARNESS
    if args.json:
        print(facts.to_json())
        return Exit.OK
    print(render(facts, _requirements(args.paths)))
    return Exit.OK


def _requirements(paths: list[str]) -> dict[str, dict[str, set[str]]]:
    """file -> case id -> the host features it requires."""
    from hardlab import spec

    out: dict[str, dict[str, set[str]]] = {}
    for root in paths:
        for file in sorted(Path(root).rglob("*.toml")) if Path(root).is_dir() else [Path(root)]:
            try:
                sc = spec.load(file)
            except spec.ScenarioError:
                continue
            for case in sc.cases:
                out.setdefault(str(file), {})[case.id] = set(sc.requires) | set(case.requires)
    return out
