"""Supply-chain pack, part 1: Docker Content Trust on loopback (seed: DOCKER_CONTENT_TRUST=1).

Each case of labs/trust/proposed/content-trust.toml is one item here, run against a real registry and
notary server on 127.0.0.1 with the real docker CLI. The TOML moves to this folder (and this runner goes)
once the scenario schema has host steps; see labs/trust/proposed/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.scan_steps import load_cases, run_case, run_trust_step
from hardlab.trust import TrustLab, TrustRepos, seed

pytest_plugins = ["fixtures.trust"]

SCENARIO = Path(__file__).resolve().parents[2] / "labs" / "trust" / "proposed" / "content-trust.toml"
CASES = load_cases(SCENARIO)


def _run(lab: TrustLab, repos: TrustRepos, case: dict) -> None:
    values = repos.placeholders(lab)
    failures = run_case(case, values, lambda raw: run_trust_step(lab, values, raw))
    assert not failures, f"FAILED: {case['title']}\nscenario: {SCENARIO.name}::{case['id']}\n" + "\n".join(failures)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_content_trust(case: dict, request: pytest.FixtureRequest) -> None:
    if "trust-lab:own" in case.get("uses", []):
        lab = request.getfixturevalue("fresh_trust_lab")  # this case stops a server: a lab of its own
        _run(lab, seed(lab), case)
    else:
        _run(request.getfixturevalue("trust_lab"), request.getfixturevalue("trust_repos"), case)
