"""Findings as GitHub Actions workflow commands (`::error file=F,line=L,title=T::message`). Pure formatting.

GitHub turns each such line of a step's log into an annotation on the run's page and on the file's line in
the diff, as pytest-github-actions-annotate-failures does for Python tests. The CLI prints them (only where
GITHUB_ACTIONS=true); this module only formats.
"""

from __future__ import annotations

from typing import Any

# GitHub shows at most 10 error and 10 warning annotations of a step (50 of a job); more lines are noise.
LIMIT = 50
_COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(text: str) -> str:
    """A command's message: %, CR and LF escaped (GitHub's workflow-command encoding)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file, title): also `:` and `,`, which would end the property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, file: str = "", line: int | None = None, title: str = "") -> str:
    """One workflow command line; `file` is repository-relative (GitHub resolves it in the checkout)."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
        if line:
            props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = _COMMAND.get(level, "error") + (" " + ",".join(props) if props else "")
    return f"::{head}::{escape_data(message)}"


def github(findings: list[Any], limit: int = LIMIT) -> list[str]:
    """One command per finding (hardlab.core.sarif.Finding: rule, title, message, level, file, line), errors
    first; past `limit`, one notice saying how many more the reports hold."""
    ordered = sorted(findings, key=lambda f: f.level != "error")
    lines = [command(f.level, f.message or f.title, f.file, f.line, f"hardlab: {f.rule}") for f in ordered[:limit]]
    if len(ordered) > limit:
        lines.append(command("note", f"{len(ordered) - limit} more failed checks: see the SARIF, JUnit and "
                                     "HTML reports"))  # fmt: skip
    return lines
