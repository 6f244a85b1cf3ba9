"""What every subcommand's argument parser shares: its exit-code epilog, and `--help` that does no work."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hardlab import config
from hardlab.outcomes import EXIT_EPILOG


def new_parser(prog: str, description: str, usage: str | None = None, epilog: str = "") -> argparse.ArgumentParser:
    """An argparse parser for `hardlab COMMAND`: usage errors exit 2 (argparse's own), the epilog has the
    exit-code table. Parsing happens before any work, so `--help` never needs an engine."""
    text = f"{epilog}\n\n{EXIT_EPILOG}" if epilog else EXIT_EPILOG
    return argparse.ArgumentParser(prog=prog, description=description, usage=usage, epilog=text,
                                   allow_abbrev=False,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip


def annotate(findings: list[Any]) -> None:
    """On GitHub Actions, one `::error file=...,line=...::` line per failed check, so the run's page marks
    the scenario's TOML line (a harness error is a warning). Elsewhere nothing: the reports hold it all."""
    if not config.on_github_actions():
        return
    from hardlab.core.annotations import github

    for line in github(findings):
        print(line, flush=True)


def positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def add_engine_args(p: argparse.ArgumentParser, engine_help: str, per_engine_help: str) -> None:
    """--engine, --engines-file and --per-engine, as `run` and `grade` both take them."""
    p.add_argument("--engine", action="append", default=[], metavar="[NAME=]URL[,certs=DIR]", help=engine_help)
    p.add_argument("--engines-file", action="append", default=[], metavar="FILE",
                   help="engines, one --engine value a line (# comments)")  # fmt: skip
    p.add_argument("--per-engine", type=positive, default=1, metavar="N", help=per_engine_help)


def engines_or_none(prog: str, args: argparse.Namespace) -> list[Any] | None:
    """The engines --engine and --engines-file name; None (the reason printed) when they are bad input."""
    from hardlab.engine import endpoints
    from hardlab.errors import BadInput, ProblemsError

    try:
        return endpoints.gather(args.engine, args.engines_file)
    except ProblemsError as exc:
        print(f"{prog}: invalid engines file:\n{exc}", file=sys.stderr)
    except BadInput as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
    return None
