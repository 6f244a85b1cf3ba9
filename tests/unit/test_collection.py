"""Which TOML files become scenarios: any folder under `hardlab run`, only `hardlab_dirs` under plain pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
REPO = Path(__file__).resolve().parents[2]

SCENARIO = """\
schema_version = 1

[scenario]
id = "mine"
title = "a user's own scenario"

[[case]]
id = "true-runs"
no_control_reason = "collection test"

[[case.step]]
exec = ["true"]
exit_code = 0
"""


def folder(pytester: pytest.Pytester) -> None:
    """~/anything/: a scenario, one in a sub-folder, a broken one, and TOML files that are not scenarios."""
    pytester.makeini("[pytest]\n")  # the rootdir is the test's folder, so node ids start with anything/
    pytester.makefile(".toml", **{"anything/mine": SCENARIO, "anything/deeper/two": SCENARIO.replace("mine", "two")})
    pytester.makefile(".toml", **{"anything/broken": "schema_version = 1\n[scenario\n"})
    pytester.makefile(".toml", **{"anything/pyproject": "[project]\nname = 'x'\n"})
    pytester.makefile(".toml", **{"anything/course": "schema_version = 1\n[course]\nid = 'c'\n"})
    pytester.makefile(".toml", **{"anything/options": "cap_drop = ['ALL']\n"})


def collected(result: pytest.RunResult) -> list[str]:
    return sorted(line for line in result.stdout.lines if "::" in line)


def test_any_folder_collects_every_scenario_file_and_nothing_else(pytester: pytest.Pytester) -> None:
    folder(pytester)
    result = pytester.runpytest_subprocess("anything", "--hardlab-any-folder", "--collect-only", "-q")
    assert collected(result) == [
        "anything/broken.toml::invalid-scenario-file",
        "anything/deeper/two.toml::true-runs",
        "anything/mine.toml::true-runs",
    ]


def test_a_file_named_on_the_command_line_is_collected_wherever_it_is(pytester: pytest.Pytester) -> None:
    folder(pytester)
    result = pytester.runpytest_subprocess("anything/mine.toml", "--collect-only", "-q")
    assert collected(result) == ["anything/mine.toml::true-runs"]


def test_plain_pytest_collects_only_hardlab_dirs(pytester: pytest.Pytester) -> None:
    folder(pytester)
    pytester.makefile(".toml", **{"scenarios/three": SCENARIO.replace("mine", "three")})
    result = pytester.runpytest_subprocess(".", "--collect-only", "-q")
    assert collected(result) == ["scenarios/three.toml::true-runs"]


def test_the_projects_own_tests_collect_no_toml() -> None:
    """tests/ holds malformed and e2e scenario files: `pytest tests` must not turn them into cases."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert [line for line in done.stdout.splitlines() if ".toml::" in line] == []


def test_a_tag_with_a_dash_is_a_marker_for_dash_m(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    tagged = SCENARIO.replace('title = "a user\'s own scenario"', 'title = "t"\ntags = ["no-root"]')
    pytester.makefile(".toml", **{"mine/tagged": tagged, "mine/other": SCENARIO})
    result = pytester.runpytest_subprocess("mine", "--hardlab-any-folder", "-m", "no-root", "--collect-only", "-q")
    assert collected(result) == ["mine/tagged.toml::true-runs"]
