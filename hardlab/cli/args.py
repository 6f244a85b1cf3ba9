"""What every subcommand's argument parser shares: its exit-code epilog, and `--help` that does no work."""

from __future__ import annotations

import argparse
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
