"""Runs labs/trust/proposed/content-trust.toml case by case against the real trust lab.

The scenario uses host steps that schema.py does not know yet (labs/trust/proposed/README.md); this test
proves every message and exit code in it is what the CLI really does, until the lead's runner takes over.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hardlab import expect
from hardlab.scan_steps import run_trust_step, to_step
from hardlab.trust import TrustLab, TrustRepos, seed

# The lead registers fixtures.trust from conftest.py; naming it here keeps this file runnable on its own.
pytest_plugins = ["fixtures.trust"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCENARIO = Path(__file__).resolve().parents[2] / "labs" / "trust" / "proposed" / "content-trust.toml"
CASES = tomllib.loads(SCENARIO.read_text())["case"]


def run_case(lab: TrustLab, repos: TrustRepos, case: dict) -> None:
    values = repos.placeholders(lab)
    failures = []
    for n, raw in enumerate(case["step"]):
        step = to_step(raw, values)
        result = expect.evaluate(step, run_trust_step(lab, values, raw))
        failures += [f"step {n} {step.name!r} ({step.display}): {c.what}: expected {c.expected}; observed {c.observed}"
                     for c in result.checks if not c.ok]
    assert not failures, f"{SCENARIO.name}::{case['id']}\n" + "\n".join(failures)
    assert any(raw.get("control") for raw in case["step"]) or case.get("no_control_reason")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_content_trust_case(case: dict, request: pytest.FixtureRequest) -> None:
    if "trust-lab:own" in case.get("uses", []):
        lab = request.getfixturevalue("fresh_trust_lab")
        run_case(lab, seed(lab), case)
    else:
        run_case(request.getfixturevalue("trust_lab"), request.getfixturevalue("trust_repos"), case)
