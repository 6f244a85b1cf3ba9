"""`hardlab list [--json] [PATHS...]`: scenarios, their cases and tags; invalid files with every problem."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hardlab.cli.args import new_parser
from hardlab.outcomes import Exit


def parser() -> argparse.ArgumentParser:
    """`hardlab list`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab list", "Validate and list scenario files: their cases, tags and required host "
                   "features; every problem of an invalid file with its line and key. Needs no engine.")  # fmt: skip
    p.add_argument("paths", nargs="*", type=Path, default=[Path("scenarios")],
                   help="scenario files or folders (default scenarios)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON document: scenarios with cases, and invalid files")
    return p


def main(argv: list[str]) -> int:
    """Scenarios, their cases and tags; invalid files are listed with their problems (exit 2)."""
    args = parser().parse_args(argv)
    from hardlab import spec

    roots: list[Path] = args.paths
    # In a folder, the TOML files that are not scenarios (pyproject.toml, a course) are left out, as `hardlab
    # run` leaves them out; a file named on the command line is always read.
    found = {f for r in roots if r.is_dir() for f in r.rglob("*.toml") if not spec.not_a_scenario(f)}
    files = sorted(found | {r for r in roots if not r.is_dir()})
    if not files:
        print(f"no scenario files in {', '.join(map(str, roots))}")
        return Exit.HARNESS
    listed: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    for file in files:
        try:
            sc = spec.load(file)
        except spec.ScenarioError as exc:
            invalid.append({"file": str(file), "problems": str(exc).splitlines()})
            if not args.json:
                print(f"{file}: INVALID\n  " + str(exc).replace("\n", "\n  "))
            continue
        except Exception as exc:  # a loader bug: this file's problem alone, said in a sentence
            why = (f"hardlab could not read this file ({type(exc).__name__}: {exc}); "
                   "this is a hardlab bug, please report it with the file")  # fmt: skip
            invalid.append({"file": str(file), "problems": [why]})
            if not args.json:
                print(f"{file}: INVALID\n  {why}")
            continue
        cases = [{"id": c.id, "nodeid": f"{file}::{c.id}", "title": c.title, "line": c.line,
                  "tags": sorted(set(sc.tags) | set(c.tags)), "requires": sorted(set(sc.requires) | set(c.requires))}
                 for c in sc.cases]  # fmt: skip
        listed.append({"file": str(file), "id": sc.id, "title": sc.title, "tags": list(sc.tags),
                       "requires": list(sc.requires), "references": list(sc.references), "cases": cases})  # fmt: skip
        if args.json:
            continue
        needs = f"  requires: {', '.join(sc.requires)}" if sc.requires else ""
        print(f"{file}  [{', '.join(sc.tags)}]  {sc.title}{needs}")
        for case in sc.cases:
            extra = sorted(set(case.requires) - set(sc.requires))
            note = f"  (needs {', '.join(extra)})" if extra else ""
            print(f"  {file}::{case.id:<36} {case.title}{note}")
    if args.json:
        print(json.dumps({"scenarios": listed, "invalid": invalid}, indent=2))
    return Exit.HARNESS if invalid else Exit.OK
