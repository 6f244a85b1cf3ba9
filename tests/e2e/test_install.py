"""A non-editable install, outside the checkout, carries everything it needs: the package data (lab image
recipes, the prober, the VM recipe, the host-audit pack) and the plugin entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install --no-deps .` into a fresh venv that borrows only the dependencies of this one."""
    where = tmp_path_factory.mktemp("install")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    # A plain path line: the deps are importable, this venv's own .pth files (the editable hardlab) are not read.
    (Path(site) / "hardlab-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(ROOT)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"pip install . failed: {done.stderr[-2000:]}")
    return venv


def _hardlab(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "HARDLAB_RECIPES"}}
    return subprocess.run([str(venv / "bin" / "hardlab"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_the_installed_package_holds_its_data_and_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    code = "import hardlab.config as c; print(c.PACKAGE); print(c.CHECKOUT)"
    out = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    package = Path(out[0])
    assert package.is_relative_to(installed) and out[1] == "None"
    for data in ("data/images/tools/hardlab-probe", "data/images/busybox/recipe.sh", "data/vm/build.sh",
                 "data/host-audit/seccomp-default.toml"):  # fmt: skip
        assert (package / data).is_file(), data


def test_doctor_list_and_a_scenario_run_outside_the_checkout(installed: Path, tmp_path: Path, docker_client) -> None:
    mine = tmp_path / "scenarios"
    mine.mkdir()
    for name in ("default-profile.toml", "blocked-syscalls.toml"):  # self-contained: no profile beside them
        shutil.copy(ROOT / "scenarios" / "seccomp" / name, mine)
    doctor = _hardlab(installed, tmp_path, "doctor")
    assert doctor.returncode == 0, doctor.stderr
    assert "seccomp" in doctor.stdout and "engine" in doctor.stdout
    listed = _hardlab(installed, tmp_path, "list", "scenarios")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "scenarios/default-profile.toml::filter-active" in listed.stdout
    run = _hardlab(installed, tmp_path, "run", "scenarios/default-profile.toml", "-p", "no:cacheprovider")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
    assert (tmp_path / "reports" / "summary.json").is_file()
    assert "already imported" not in run.stdout
