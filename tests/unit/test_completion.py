"""`hardlab completion`: the scripts name every subcommand and complete in a real bash."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from hardlab.cli import COMMANDS
from hardlab.cli.completion import script


def test_the_bash_script_names_every_subcommand_and_their_options() -> None:
    text = script("bash")
    listed = next(line for line in text.splitlines() if line.startswith("_shtab_hardlab_subparsers="))
    assert listed.split("=", 1)[1].strip("()").split() == list(COMMANDS)
    assert "--sarif" in text and "--skip-cis" in text and "--hardlab" not in text


def test_the_zsh_script_names_every_subcommand() -> None:
    text = script("zsh")
    assert text.startswith("#compdef hardlab")
    for name in COMMANDS:
        assert f"    {name}:'" in text, name


@pytest.mark.skipif(shutil.which("bash") is None, reason="host lacks bash")
def test_bash_completes_a_subcommand_and_an_option(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "hardlab.cli", "completion", "bash"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    path = tmp_path / "hardlab.bash"
    path.write_text(done.stdout)
    probe = (f"source {path}; COMP_WORDS=(hardlab au); COMP_CWORD=1; _shtab_hardlab; echo \"${{COMPREPLY[@]}}\"; "
             "COMP_WORDS=(hardlab audit --sk); COMP_CWORD=2; _shtab_hardlab; echo \"${COMPREPLY[@]}\"")
    lines = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines == ["audit", "--skip-cis"]
