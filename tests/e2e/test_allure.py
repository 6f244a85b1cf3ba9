"""allure results of a real run tell the truth: steps at the times they ran, skips that keep their identity,
severity from the scenario, CIS ids as links, categories that put findings, harness trouble and host limits apart."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

SLEEP_S = 0.6
SCENARIO = f"""\
schema_version = 1

[scenario]
id = "allure-truth"
title = "allure results of a small run"
description = "A sleeping step, a host limit and a finding."
references = ["CIS Docker Benchmark 5.28, 5.10"]
remediation = "Nothing to fix: this is a test."
severity = "minor"

[defaults]
image = "lab:busybox"

[[case]]
id = "sleeps"
title = "a step that sleeps {SLEEP_S} s"
severity = "critical"
container = {{ pids_limit = 64 }}

[[case.step]]
name = "sleep, then say ok"
shell = "sleep {SLEEP_S}; echo ok"
exit_code = 0
stdout_contains = ["ok"]

[case.control]
container = {{ pids_limit = 512 }}

[[case.control.step]]
name = "the control sleeps too"
shell = "sleep {SLEEP_S}; echo ok"
exit_code = 0

[[case]]
id = "host-limit"
title = "needs what no CI host has"
requires = ["selinux", "x32-abi"]

[[case.step]]
shell = "echo hi"
control = true
exit_code = 0

[[case]]
id = "finding"
title = "a check that does not hold"

[[case.step]]
name = "says no"
shell = "echo no"
exit_code = 0
stdout_contains = ["yes"]

[[case.step]]
name = "the container answers"
control = true
shell = "echo ctl"
exit_code = 0

[[case]]
id = "harness"
title = "runs an image nobody built"
image = "hardlab-e2e/does-not-exist:0"
no_control_reason = "tests the harness-trouble category"

[[case.step]]
exec = ["true"]
exit_code = 0
"""


def results(folder: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in folder.glob("*-result.json"):
        data = json.loads(path.read_text())
        out[next(lb["value"] for lb in data["labels"] if lb["name"] == "story")] = data
    return out


def label(data: dict[str, Any], name: str) -> list[str]:
    return [lb["value"] for lb in data["labels"] if lb["name"] == name]


def test_allure_results_of_a_run_tell_the_truth(run_hardlab, tmp_path: Path) -> None:
    scenario = tmp_path / "allure-truth.toml"
    scenario.write_text(textwrap.dedent(SCENARIO))
    folder = tmp_path / "allure-results"
    done = run_hardlab(str(scenario), f"--alluredir={folder}")
    assert done.code == 1, done.output  # pytest's code: `hardlab run` maps it to 2 (a harness error)
    found = results(folder)
    assert set(found) == {"sleeps", "host-limit", "finding", "harness"}, done.output

    sleeps = found["sleeps"]
    assert sleeps["name"] == f"allure-truth: a step that sleeps {SLEEP_S} s" and sleeps["status"] == "passed"
    assert label(sleeps, "severity") == ["critical"] and label(sleeps, "feature") == ["allure-truth"]
    runs = {s["name"]: s for s in sleeps["steps"]}
    assert set(runs) == {"control run (the permissive twin)", "case run"}
    for run in runs.values():
        names = [s["name"] for s in run["steps"]]
        assert names[0] == "start the container"
        step = run["steps"][-1]
        # the step's real time (the engine's clock), not the few ms of a replay in the call phase
        assert step["stop"] - step["start"] >= SLEEP_S * 1000, step
        assert run["start"] <= step["start"] <= step["stop"] <= run["stop"]
        assert {a["name"] for a in step["attachments"]} == {"command", "output", "checks"}
        assert sleeps["start"] <= run["start"] and run["stop"] <= sleeps["stop"]
    assert sleeps["stop"] - sleeps["start"] >= SLEEP_S * 1000
    params = {p["name"]: p["value"] for p in sleeps["parameters"]}
    assert params["container"] == "pids_limit=64" and params["control container"] == "pids_limit=512"
    links = {lk["name"]: lk["url"] for lk in sleeps["links"]}
    assert set(links) == {"CIS 5.28", "CIS 5.10"} and all(u.startswith("https://") for u in links.values())
    assert "pids_limit=64" in sleeps["description"] and "Remediation" in sleeps["description"]

    skipped = found["host-limit"]
    assert skipped["status"] == "skipped", skipped
    assert skipped["name"] == "allure-truth: needs what no CI host has"
    assert label(skipped, "feature") == ["allure-truth"] and label(skipped, "severity") == ["minor"]
    assert skipped["statusDetails"]["message"].startswith("[host-feature-missing] host lacks")
    assert "A sleeping step" in skipped["description"]  # the scenario's, not an internal docstring

    finding = found["finding"]
    assert finding["status"] == "failed" and label(finding, "severity") == ["minor"]
    assert finding["statusDetails"]["message"].startswith("[control-failed] FAILED: a check that does not hold")
    failed = [s for s in finding["steps"][0]["steps"] if s["status"] == "failed"]
    assert [s["name"] for s in failed] == ["says no"] and "expected 'yes'" in failed[0]["statusDetails"]["message"]

    containers = " ".join(p.read_text() for p in folder.glob("*-container.json"))
    assert "<lambda>" not in containers

    categories = json.loads((folder / "categories.json").read_text())

    def category(data: dict[str, Any]) -> str:
        return next(c["name"] for c in categories if data["status"] in c["matchedStatuses"]
                    and re.match(c["messageRegex"], data["statusDetails"]["message"]))  # fmt: skip

    assert category(finding).startswith("Findings") and category(skipped).startswith("Host limits")
    harness = found["harness"]
    assert harness["status"] == "broken" and harness["statusDetails"]["message"].startswith("[harness-error]")
    assert category(harness).startswith("Harness trouble")
