"""`hardlab run [--sarif PATH] [PYTEST ARGS...]`: the scenarios through pytest, with every report written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hardlab import config
from hardlab.cli.args import add_engine_args, annotate, engines_or_none, new_parser
from hardlab.outcomes import Exit, run_exit


def parser() -> argparse.ArgumentParser:
    p = new_parser(
        "hardlab run", "Build the lab images (once, cached), then run scenarios/ (or the paths given) through "
        "pytest with every report written: junit.xml, summary.json, allure-results/ (in $HARDLAB_REPORTS, "
        "default reports/).", usage="hardlab run [--sarif PATH] [PYTEST ARGS...]",
        epilog="Every other argument passes through to pytest: `hardlab run -k seccomp -n 2`, "
        "`hardlab run scenarios/limits --hardlab-strict`.")  # fmt: skip
    p.add_argument("--sarif", metavar="PATH", help="also write the findings as SARIF 2.1.0 to PATH")
    p.add_argument("--cis", action="append", default=[], metavar="ID",
                   help="run only cases whose scenario references these CIS controls or sections (5.12, 5)")
    p.add_argument("--skip-cis", action="append", default=[], metavar="ID", help="leave these CIS ids out")
    add_engine_args(p, "run on several engines (unix://, tcp:// with certs=DIR for TLS, ssh://): each pytest-xdist "
                       "worker is bound to one, every result records its engine; repeatable",
                    "with --engine and no -n: xdist workers per engine (default 1; -n = engines x N)")  # fmt: skip
    return p


def main(argv: list[str]) -> int:
    """Build the lab images once (visible progress), then run pytest over the scenarios with reports."""
    args, rest = parser().parse_known_args(argv)
    import pytest

    from hardlab.cli.images import ready, ready_engines

    engines = engines_or_none("hardlab run", args)
    if engines is None:
        return Exit.HARNESS
    if not (ready_engines("hardlab run", engines) if engines else ready("hardlab run")):
        return Exit.HARNESS
    reports = config.reports_dir()
    reports.mkdir(parents=True, exist_ok=True)
    summary = reports / "summary.json"
    summary.unlink(missing_ok=True)  # a stale summary must not decide this run's exit code
    has_paths = any(not a.startswith("-") and Path(a.split("::")[0]).exists() for a in rest)
    pytest_args = [
        *([] if has_paths else ["scenarios"]),
        f"--junitxml={reports / 'junit.xml'}",
        f"--alluredir={reports / 'allure-results'}",
        "--clean-alluredir",
        f"--hardlab-report={summary}",
        "--hardlab-any-folder",  # `hardlab run ~/mine/`: its scenario files, whatever the folders are called
        # This command imported hardlab before pytest could mark its plugin for assertion rewriting; the
        # plugin asserts nothing, so the warning would only be noise.
        "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
        *(f"--hardlab-cis={c}" for c in args.cis),
        *(f"--hardlab-skip-cis={c}" for c in args.skip_cis),
        *(f"--hardlab-engine={_value(e)}" for e in engines),
        *(["-n", str(len(engines) * args.per_engine)] if engines and not _has_workers(rest) else []),
        *rest,
    ]  # fmt: skip
    code = int(pytest.main(pytest_args))
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        named = [a for a in rest if not a.startswith("-") and Path(a.split("::")[0]).exists()] or ["scenarios"]
        print(f"hardlab run: no scenario files in {', '.join(named)} (a scenario file is a *.toml with "
              "schema_version, [scenario] and [[case]]; `hardlab list PATH` shows what hardlab finds)")  # fmt: skip
    data = read_summary(summary)
    import hardlab.core.sarif as sarif

    if args.sarif and data:
        sarif.write(Path(args.sarif), sarif.from_summary(data))
    annotate(sarif.findings_from_summary(data))  # on GitHub Actions: each failed case at its TOML line
    return int(run_exit(code, data.get("results", [])))


def _value(endpoint: Any) -> str:
    """An endpoint as an --hardlab-engine value, its TLS folder explicit (the workers see no --engine)."""
    return f"{endpoint.name}={endpoint.url}" + (f",certs={endpoint.certs}" if endpoint.certs else "")


def _has_workers(args: list[str]) -> bool:
    return any(a in ("-n", "--numprocesses") or a.startswith(("-n", "--numprocesses=")) for a in args)


def read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
