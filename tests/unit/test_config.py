"""Every HARDLAB_* variable the code reads is a documented setting, and the README lists them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardlab import config

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_every_variable_in_the_code_is_a_documented_setting() -> None:
    used: set[str] = set()
    sources = [*(ROOT / "hardlab").rglob("*.py"), *(ROOT / "hardlab" / "data").rglob("*.sh")]
    sources.append(ROOT / "scripts" / "ensure-engine")
    for path in sources:
        used |= set(re.findall(r"\bHARDLAB_[A-Z0-9_]+\b", path.read_text(errors="replace")))
    assert used - set(config.SETTINGS) == set()


def test_the_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [k for k in config.SETTINGS if f"`{k}`" not in readme] == []


def test_an_undocumented_setting_is_a_bug_not_a_silent_default() -> None:
    with pytest.raises(KeyError, match="undocumented setting HARDLAB_NOPE"):
        config.env("HARDLAB_NOPE")
