"""Supply-chain pack, part 2: scan the lab image offline and gate like klar (seed: CLAIR_OUTPUT=High
CLAIR_THRESHOLD=15), plus the slim image that passes and a scratch image with no package database.

Each case of labs/advisories/proposed/image-scan.toml is one item here. The feed is LAB DATA
(labs/advisories/README.md), not real CVE records. The TOML moves to this folder once the scenario
schema has host steps; its `feed` path is already relative to this folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.scan_steps import load_cases, run_case, run_scan_step

HERE = Path(__file__).resolve().parent
SCENARIO = HERE.parents[1] / "labs" / "advisories" / "proposed" / "image-scan.toml"
CASES = load_cases(SCENARIO)


@pytest.fixture(scope="module")
def engine():
    from hardlab.engine import EngineError, connect

    try:
        return connect()
    except EngineError as exc:
        pytest.skip(f"no Docker Engine answers: {exc}")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_image_scan(case: dict, engine, tmp_path: Path) -> None:
    from hardlab.images import ImageError

    try:
        failures = run_case(case, {}, lambda raw: run_scan_step(raw, HERE, engine))
    except ImageError as exc:
        pytest.skip(f"lab image cannot be built on this host: {exc}")
    assert not failures, f"FAILED: {case['title']}\nscenario: {SCENARIO.name}::{case['id']}\n" + "\n".join(failures)
