"""The commands a user types: hardlab doctor, hardlab list."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import DATA, ROOT

pytestmark = pytest.mark.e2e


def hardlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardlab.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_doctor_reports_engine_and_features() -> None:
    done = hardlab("doctor")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "engine           Docker" in out and "security options name=seccomp" in out
    for feature in ("seccomp", "apparmor", "privileged", "cgroup-pids", "userns-remap"):
        assert f"\n  {feature} " in out
    assert "scenarios/seccomp/default-profile.toml" in out


def test_list_shows_cases_and_flags_invalid_files() -> None:
    done = hardlab("list", "scenarios/seccomp/default-profile.toml", str(DATA / "invalid.toml"))
    assert done.returncode == 1
    assert "scenarios/seccomp/default-profile.toml::filter-active" in done.stdout
    assert "invalid.toml: INVALID" in done.stdout and "unknown capability 'NOT_A_CAP'" in done.stdout
