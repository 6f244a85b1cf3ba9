"""Helpers for the pure-logic tests: scenario files written to a temporary folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from hardlab import spec

HEADER = """\
schema_version = 1

[scenario]
id = "unit"
title = "A scenario written by a unit test"
"""


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[..., Path]:
    """write_scenario(body, **files) -> path of a scenario file: HEADER + body, plus side files
    (e.g. profile_json='{...}' becomes profile.json) in the same folder."""

    def write(body: str, name: str = "scenario.toml", header: str = HEADER, **files: str) -> Path:
        for fname, text in files.items():
            stem, _, ext = fname.rpartition("_")
            (tmp_path / f"{stem}.{ext}").write_text(textwrap.dedent(text), encoding="utf-8")
        path = tmp_path / name
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_scenario(write_scenario: Callable[..., Path]) -> Callable[..., spec.Scenario]:
    """load_scenario(body, **files) -> the validated Scenario (raises ScenarioError like load)."""

    def load(body: str, **kwargs: str) -> spec.Scenario:
        return spec.load(write_scenario(body, **kwargs))

    return load
