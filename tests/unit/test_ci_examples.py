"""The CI examples users copy: valid YAML, and every hardlab command in them is one hardlab has, with options
its parser accepts (a renamed option would break every copy silently)."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from hardlab.cli import COMMANDS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ci"
FILES = ["github-actions.yml", "gitlab-ci.yml"]
_CALL = re.compile(r"(?:^|[\s/])hardlab\s+(.*)$")


def commands(text: str) -> list[list[str]]:
    """Each `hardlab ...` invocation's words, up to the shell's next operator or comment."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = _CALL.search(line)
        if not m:
            continue
        words = []
        for word in shlex.split(m.group(1), comments=True):
            if word in ("||", "&&", ";", "|") or word.startswith(("||", "&&", ">")):
                break
            words.append(word)
        found.append(words)
    return found


SHELL_KEYS = {"run", "script", "before_script", "after_script"}  # GitHub's step `run`, GitLab's scripts


def steps_text(data: object, shell: bool = False) -> str:
    """Every shell command of a parsed YAML document, one per line."""
    if isinstance(data, dict):
        return "\n".join(steps_text(v, shell or k in SHELL_KEYS) for k, v in data.items())
    if isinstance(data, list):
        return "\n".join(steps_text(v, shell) for v in data)
    return data if isinstance(data, str) and shell else ""


@pytest.mark.parametrize("name", FILES)
def test_every_hardlab_command_of_the_example_exists_with_its_options(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    try:
        import yaml
    except ImportError:  # PyYAML is not a dependency: the commands are still checked in the raw text
        shell = "\n".join(ln for ln in text.splitlines() if not re.match(r"\s*(name|check_name|expose_as):", ln))
    else:
        data = yaml.safe_load(text)
        assert isinstance(data, dict) and data
        if name.startswith("github"):
            assert {"on", "jobs"} <= {str(k).lower() if k is not True else "on" for k in data}  # YAML 1.1: on=True
            steps = data["jobs"]["hardlab"]["steps"]
            uses = " ".join(str(s.get("uses", "")) for s in steps)
            assert "upload-sarif" in uses and "upload-artifact" in uses
        else:
            job = data["hardlab-nightly"]
            assert job["artifacts"]["reports"]["junit"] and job["artifacts"]["when"] == "always"
        shell = steps_text(data)
    calls = commands(shell)
    used = {words[0] for words in calls if words and not words[0].startswith("-")}
    assert {"audit", "run", "report"} <= used, calls
    for words in calls:
        if words[:1] == ["--version"]:
            continue
        assert words[0] in COMMANDS, words
        parser = importlib.import_module(COMMANDS[words[0]][0]).parser()
        if words[0] == "run":  # every other option passes through to pytest
            args, _ = parser.parse_known_args(words[1:])
        else:
            args = parser.parse_args(words[1:])
        assert args is not None
    joined = "\n".join(" ".join(w) for w in calls)
    assert "--sarif" in joined and "report reports/summary.json reports/audit/results.json" in joined
