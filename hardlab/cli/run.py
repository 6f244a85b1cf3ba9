"""`hardlab run` (pytest with reports) and `hardlab list` (what the scenarios hold)."""

from __future__ import annotations

from pathlib import Path

REPORTS = Path("reports")


def main_run(argv: list[str]) -> int:
    """Build the lab images once (visible progress), then run pytest over the scenarios with reports.

    Every argument passes through to pytest: `hardlab run -k seccomp -n 2`."""
    import pytest

    from hardlab.engine import images
    if not images.ensure_all("hardlab run"):
        return 2
    REPORTS.mkdir(exist_ok=True)
    has_paths = any(not a.startswith("-") and Path(a.split("::")[0]).exists() for a in argv)
    args = [
        *([] if has_paths else ["scenarios"]),
        f"--junitxml={REPORTS / 'junit.xml'}",
        f"--alluredir={REPORTS / 'allure-results'}",
        "--clean-alluredir",
        f"--hardlab-report={REPORTS / 'summary.json'}",
        *argv,
    ]
    return int(pytest.main(args))


def main_list(argv: list[str]) -> int:
    """Scenarios, their cases and tags; invalid files are listed with their problems."""
    from hardlab import spec
    roots = [Path(a) for a in argv] or [Path("scenarios")]
    files = sorted(f for r in roots for f in (r.rglob("*.toml") if r.is_dir() else [r]))
    bad = 0
    for file in files:
        try:
            sc = spec.load(file)
        except spec.ScenarioError as exc:
            bad += 1
            print(f"{file}: INVALID\n  " + str(exc).replace("\n", "\n  "))
            continue
        needs = f"  requires: {', '.join(sc.requires)}" if sc.requires else ""
        print(f"{file}  [{', '.join(sc.tags)}]  {sc.title}{needs}")
        for case in sc.cases:
            extra = sorted(set(case.requires) - set(sc.requires))
            note = f"  (needs {', '.join(extra)})" if extra else ""
            print(f"  {file}::{case.id:<36} {case.title}{note}")
    return 1 if bad else 0
