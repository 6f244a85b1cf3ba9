"""GitHub Actions annotations: workflow commands at the TOML line, escaped as GitHub reads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hardlab.core import annotations, sarif

SUMMARY = {"results": [
    {"nodeid": "scenarios/limits/limits.toml::pids-limit", "scenario": "limits", "case": "pids-limit",
     "title": "--pids-limit 32 stops a spawner", "outcome": "failed", "classification": "control-failed",
     "message": "FAILED: 100% of 200, spawned", "file": "scenarios/limits/limits.toml", "line": 17},
    {"nodeid": "scenarios/a.toml::ok", "outcome": "passed", "file": "scenarios/a.toml", "line": 3},
    {"nodeid": "scenarios/b.toml::gone", "scenario": "b", "case": "gone", "title": "engine", "outcome": "error",
     "classification": "harness-error", "message": "engine down:\nno answer", "file": "scenarios/b.toml", "line": 9},
]}  # fmt: skip


def test_failed_cases_become_errors_at_their_toml_line_and_harness_errors_warnings() -> None:
    lines = annotations.github(sarif.findings_from_summary(SUMMARY))
    assert lines == [
        "::error file=scenarios/limits/limits.toml,line=17,title=hardlab%3A limits/pids-limit::"
        "[control-failed] --pids-limit 32 stops a spawner: FAILED: 100%25 of 200, spawned",
        "::warning file=scenarios/b.toml,line=9,title=hardlab%3A b/gone::"
        "[harness-error] engine: engine down:%0Ano answer",
    ]


def test_escaping_and_a_finding_without_a_file() -> None:
    assert annotations.escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    assert annotations.command("error", "x\r\ny") == "::error::x%0D%0Ay"
    assert annotations.command("warning", "m", title="t") == "::warning title=t::m"


def test_past_the_limit_one_notice_says_how_many_more() -> None:
    many = [sarif.Finding(rule=f"r{i}", title="t", message="m", level="warning" if i % 2 else "error")
            for i in range(7)]  # fmt: skip
    lines = annotations.github(many, limit=4)
    assert [ln.split(" ", 1)[0] for ln in lines] == ["::error", "::error", "::error", "::error", "::notice::3"]


def test_the_cli_prints_them_only_on_github_actions(tmp_path: Path) -> None:
    probe = ("import sys; from hardlab.cli.args import annotate; from hardlab.core import sarif; "
             "annotate([sarif.Finding(rule='s/c', title='t', message='m', file='x.toml', line=4)])")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    quiet = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    loud = subprocess.run([sys.executable, "-c", probe], env={**env, "GITHUB_ACTIONS": "true"},
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert quiet.stdout == ""
    assert loud.stdout == "::error file=x.toml,line=4,title=hardlab%3A s/c::m\n"
