"""Runs labs/advisories/proposed/image-scan.toml case by case against real lab images.

The feed path in the scenario is relative to where the file will live (scenarios/supply-chain/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hardlab import expect
from hardlab.scan_steps import run_scan_step, to_step

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

docker = pytest.importorskip("docker")

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "labs" / "advisories" / "proposed" / "image-scan.toml"
FINAL_HOME = REPO / "scenarios" / "supply-chain"
CASES = tomllib.loads(SCENARIO.read_text())["case"]


@pytest.fixture(scope="module")
def client():
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"scan scenarios need a Docker Engine: {exc}")
    return c


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_image_scan_case(case: dict, client, tmp_path: Path) -> None:
    from hardlab.images import ImageError

    failures = []
    for n, raw in enumerate(case["step"]):
        step = to_step(raw, {})
        try:
            seen = run_scan_step(raw, FINAL_HOME, client, report_dir=tmp_path)
        except ImageError as exc:
            pytest.skip(f"lab image cannot be built here: {exc}")
        result = expect.evaluate(step, seen)
        failures += [f"step {n} {step.name!r}: {c.what}: expected {c.expected}; observed {c.observed}"
                     for c in result.checks if not c.ok]
    assert not failures, f"{SCENARIO.name}::{case['id']}\n" + "\n".join(failures)
    assert any(raw.get("control") for raw in case["step"]) or case.get("no_control_reason")
