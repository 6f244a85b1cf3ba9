"""`hardlab list [PATHS...]`: scenarios, their cases and tags; invalid files with every problem."""

from __future__ import annotations

from pathlib import Path


def main(argv: list[str]) -> int:
    """Scenarios, their cases and tags; invalid files are listed with their problems."""
    from hardlab import spec
    roots = [Path(a) for a in argv] or [Path("scenarios")]
    # In a folder, the TOML files that are not scenarios (pyproject.toml, a course) are left out, as `hardlab
    # run` leaves them out; a file named on the command line is always read.
    found = {f for r in roots if r.is_dir() for f in r.rglob("*.toml") if not spec.not_a_scenario(f)}
    files = sorted(found | {r for r in roots if not r.is_dir()})
    if not files:
        print(f"no scenario files in {', '.join(map(str, roots))}")
        return 1
    bad = 0
    for file in files:
        try:
            sc = spec.load(file)
        except spec.ScenarioError as exc:
            bad += 1
            print(f"{file}: INVALID\n  " + str(exc).replace("\n", "\n  "))
            continue
        except Exception as exc:  # a loader bug: this file's problem alone, said in a sentence
            bad += 1
            print(f"{file}: INVALID\n  hardlab could not read this file ({type(exc).__name__}: {exc}); "
                  "this is a hardlab bug, please report it with the file")  # fmt: skip
            continue
        needs = f"  requires: {', '.join(sc.requires)}" if sc.requires else ""
        print(f"{file}  [{', '.join(sc.tags)}]  {sc.title}{needs}")
        for case in sc.cases:
            extra = sorted(set(case.requires) - set(sc.requires))
            note = f"  (needs {', '.join(extra)})" if extra else ""
            print(f"  {file}::{case.id:<36} {case.title}{note}")
    return 1 if bad else 0
