"""The command line without an engine: --help never does work, --version, one exit-code table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardlab.cli import COMMANDS
from hardlab.outcomes import Exit, run_exit

ROOT = Path(__file__).resolve().parents[2]
DEAD = "unix:///nonexistent/hardlab-dead.sock"  # an engine that is down


def hardlab(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": DEAD}
    return subprocess.run([sys.executable, "-m", "hardlab.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_does_no_work(command: str) -> None:
    started = time.monotonic()
    done = hardlab(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: hardlab") and "exit codes:" in done.stdout
    assert "no Docker Engine answers" not in done.stdout + done.stderr  # no probe, no image build
    assert time.monotonic() - started < 20


def test_version_and_top_level_help() -> None:
    from hardlab import __version__

    done = hardlab("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"hardlab {__version__}"
    top = hardlab("--help")
    assert top.returncode == 0
    for name in COMMANDS:
        assert f"\n  {name} " in top.stdout
    assert "up | down | status" in top.stdout and "exit codes:" in top.stdout
    unknown = hardlab("frobnicate")
    assert unknown.returncode == 2 and "unknown command 'frobnicate'" in unknown.stderr


@pytest.mark.parametrize("args", [
    ("run", "tests/e2e/data/valid.toml"), ("doctor",), ("images", "build"), ("images", "prune"),
    ("scan", "lab:tools", "--feed", "labs/advisories"), ("grade", "labs/course/submissions", "--student", "reference"),
])  # fmt: skip
def test_engine_down_is_a_harness_error(args: tuple[str, ...]) -> None:
    done = hardlab(*args, timeout=120)
    assert done.returncode == Exit.HARNESS, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "no Docker Engine answers" in done.stderr


@pytest.mark.parametrize("args", [
    ("scan", "lab:tools"),  # --feed missing
    ("list", "tests/e2e/data/invalid.toml"),  # bad input
    ("grade", "no/such/folder"),
    ("images", "frobnicate"),
    ("vm", "frobnicate"),
    ("audit", "--profile", "no/such/profile.toml", "--config-only"),
])  # fmt: skip
def test_bad_input_is_2(args: tuple[str, ...]) -> None:
    done = hardlab(*args, timeout=120)
    assert done.returncode == Exit.HARNESS, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_list_json() -> None:
    done = hardlab("list", "--json", "scenarios/limits", "tests/e2e/data/invalid.toml")
    assert done.returncode == 2
    data = json.loads(done.stdout)
    (limits,) = data["scenarios"]
    assert limits["file"] == "scenarios/limits/limits.toml" and limits["cases"][0]["line"]
    assert data["invalid"][0]["file"].endswith("invalid.toml") and data["invalid"][0]["problems"]


def test_run_exit_tells_findings_from_harness_errors() -> None:
    finding = {"outcome": "failed", "classification": "control-failed"}
    harness = {"outcome": "error", "classification": "harness-error"}
    broken = {"outcome": "failed", "classification": "broken-control"}
    held = {"outcome": "passed", "classification": "ok"}
    skipped = {"outcome": "skipped", "classification": "host-feature-missing"}
    assert run_exit(0, [held, skipped]) == Exit.OK
    assert run_exit(1, [held, finding]) == Exit.FINDINGS
    assert run_exit(1, [finding, harness]) == Exit.HARNESS  # incomplete: the findings are still reported
    assert run_exit(1, [broken]) == Exit.HARNESS  # the check proved nothing
    assert run_exit(2, []) == Exit.HARNESS  # pytest "interrupted": engine down at collection
    assert run_exit(4, []) == Exit.HARNESS and run_exit(5, []) == Exit.HARNESS  # usage error, no tests


def test_cis_selection_collects_by_control_and_section() -> None:
    def collected(*opts: str) -> set[str]:
        done = subprocess.run([sys.executable, "-m", "pytest", "scenarios", "--collect-only", "-q", "-p",
                               "no:cacheprovider", *opts], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DOCKER_HOST": DEAD})  # fmt: skip
        return {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}

    assert collected("--hardlab-cis", "5.28") == {"scenarios/limits/limits.toml"}
    section = collected("--hardlab-cis", "5", "--hardlab-skip-cis", "5.21")
    assert "scenarios/capabilities/capabilities.toml" in section
    assert "scenarios/seccomp/default-profile.toml" not in section
    assert "scenarios/supply-chain/content-trust.toml" not in section


def test_cis_ids_from_references() -> None:
    from hardlab.core.records import cis, cis_selected

    ids = [c["id"] for c in cis(["Docker docs", "CIS Docker Benchmark 4.1, 5.12", "CIS Docker Benchmark 4.5: trust"])]
    assert ids == ["4.1", "5.12", "4.5"]
    assert cis_selected(["5.12"], ["5"], []) and not cis_selected(["5.12"], ["5.1"], [])
    assert not cis_selected([], ["5"], []) and cis_selected([], [], ["5"])
