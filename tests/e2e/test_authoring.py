"""Authoring as a user does it: `hardlab run` on a folder of one's own, named anything, full of mistakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest import DATA, ROOT, leftovers

pytestmark = pytest.mark.e2e
MALFORMED = ROOT / "tests" / "unit" / "malformed"


def expected(path: Path) -> list[tuple[int | None, list[str]]]:
    """(line, fragments) of every `# expect:` in a corpus file's header (see tests/unit/test_schema.py)."""
    out: list[tuple[int | None, list[str]]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.startswith("#"):
            break
        tag, _, value = raw[1:].strip().partition(":")
        if tag == "expect":
            out.append((None, [value.strip()]))
        elif tag == "and":
            out[-1][1].append(value.strip())
        elif tag == "line":
            out[-1] = (None if value.strip() == "none" else int(value), out[-1][1])
    return out


def hardlab_run(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict, float, str]:
    run_id = "e2e-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "HARDLAB_RUN_ID": run_id}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hardlab.cli", "run", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    took = time.monotonic() - started
    report = cwd / "reports" / "summary.json"
    return done, json.loads(report.read_text()) if report.is_file() else {}, took, run_id


def test_a_folder_of_every_malformed_file_and_one_valid_scenario(tmp_path: Path, docker_client) -> None:
    """Every bad file is one sentence per problem with file, line and key, reported as bad input (never a
    failed security check, never a traceback); the valid neighbour runs; bad input costs milliseconds."""
    mixed = tmp_path / "my checks"  # no folder named `scenarios` anywhere
    mixed.mkdir()
    for path in MALFORMED.iterdir():
        shutil.copy(path, mixed / path.name)
    shutil.copy(DATA / "valid.toml", mixed / "valid.toml")
    done, summary, took, run_id = hardlab_run(tmp_path, str(mixed))
    out = done.stdout + done.stderr
    bad = sorted(p for p in MALFORMED.glob("*.toml"))
    assert len(bad) >= 95
    assert "Traceback" not in out and "INTERNALERROR" not in out
    for path in bad:
        for line, fragments in expected(path):
            where = f"{path.name}:{line}: " if line else f"{path.name}: "
            # Named relative to the rootdir: "my checks/NAME:LINE: ..." (or just "NAME:LINE: ...").
            lines = [ln[ln.index(where) :] for ln in out.splitlines()
                     if where in ln and (ln.startswith(where) or ln.split(where)[0].endswith("/"))]  # fmt: skip
            if len(fragments) == 1:
                assert where + fragments[0] in lines, f"{where}{fragments[0]!r} not in the output"
            else:
                assert any(all(f in ln for f in fragments) for ln in lines), f"{where}{fragments} not in the output"
    results = {r["nodeid"]: r for r in summary["results"]}
    valid = next(r for n, r in results.items() if n.endswith("valid.toml::seccomp-on"))
    assert valid["outcome"] == "passed"
    invalid = [r for r in results.values() if r.get("invalid")]
    assert len(invalid) == len(bad)
    assert all(r["outcome"] == "error" and r["classification"] == "harness-error" for r in invalid)
    assert not [r for r in results.values() if r["outcome"] == "failed"]  # no bad input as a failed check
    assert done.returncode in (1, 2)
    assert leftovers(docker_client, run_id) == []
    print(f"\n{len(bad)} malformed files + 1 valid scenario: {took:.1f}s")
    assert took < 30


def test_run_a_file_and_a_folder_outside_the_project(tmp_path: Path) -> None:
    """`hardlab run ~/anything/mine.toml` and `hardlab run ~/anything/`, from anywhere."""
    anything = tmp_path / "anything"
    (anything / "sub").mkdir(parents=True)
    shutil.copy(DATA / "valid.toml", anything / "mine.toml")
    shutil.copy(DATA / "valid.toml", anything / "sub" / "again.toml")
    shutil.copy(ROOT / "pyproject.toml", anything / "pyproject.toml")  # not a scenario: left out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done, summary, _, _ = hardlab_run(elsewhere, str(anything / "mine.toml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["outcome"] for r in summary["results"]] == ["passed"]
    done, summary, _, _ = hardlab_run(elsewhere, str(anything))
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(r["nodeid"].split("::")[0].rsplit("/", 1)[-1] for r in summary["results"]) == [
        "again.toml", "mine.toml",
    ]  # fmt: skip


TWO_FAILURES = """\
schema_version = 1

[scenario]
id = "two-failures"
title = "Two wrong expectations in one scenario"
remediation = "Fix the expectation, once."

[[case]]
id = "${n}"
parametrize = [{ n = "first" }, { n = "second" }]

[[case.step]]
exec = ["true"]
control = true
exit_code = 0

[[case.step]]
shell = "echo one; echo two"
stdout_equals = "one"
"""


def test_the_remediation_is_printed_once_for_a_scenario_with_two_failures(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "two.toml").write_text(TWO_FAILURES)
    done, summary, _, _ = hardlab_run(tmp_path, str(mine))
    out = done.stdout + done.stderr
    assert [r["outcome"] for r in summary["results"]] == ["failed", "failed"]
    assert out.count("Fix the expectation, once.") == 1
    assert "  two-failures (first, second): Fix the expectation, once." in out
    assert "FAIL stdout equals: expected 'one'; observed 'one\\ntwo'" in out
