"""`hardlab doctor [--json] [PATHS...]`: what this host's engine and kernel can enforce, and which
scenarios will run or skip here."""

from __future__ import annotations

import sys
from pathlib import Path

from hardlab import spec
from hardlab.engine.client import EngineError, connect
from hardlab.engine.probe import probe, render


def main(argv: list[str]) -> int:
    """`hardlab doctor [--json] [scenarios-dir]`."""
    as_json = "--json" in argv
    paths = [a for a in argv if not a.startswith("-")] or ["scenarios"]
    try:
        client = connect()
        facts = probe(client)
    except EngineError as exc:
        print(f"hardlab doctor: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(facts.to_json())
        return 0
    print(render(facts, _requirements(paths)))
    return 0


def _requirements(paths: list[str]) -> dict[str, dict[str, set[str]]]:
    """file -> case id -> the host features it requires."""
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
