"""Machine output CI reads: JUnit valid against the junit-10 rules, one naming across modes; SARIF 2.1.0."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import xmlschema

from hardlab.audit.model import Result
from hardlab.audit.report import write_allure, write_junit
from hardlab.core import sarif
from hardlab.grading.points import junit
from hardlab.pytest import junit as pytest_junit

# The junit-10 rules (the schema pytest's own tests use) restated in tests/data/junit.xsd (not a copy).
SCHEMA = xmlschema.XMLSchema(str(Path(__file__).resolve().parents[1] / "data" / "junit.xsd"))


def results() -> list[Result]:
    return [
        Result("local", "behaviour.seccomp-default/keyctl-blocked", "5.21", "keyctl refused", "behaviour",
               "failed", "control-failed", ["FAILED: keyctl allowed"], "keep the default profile", 0.5),
        Result("local", "daemon.icc", "2.1", "icc off", "config", "passed", "", ["icc=false"], "set icc false"),
        Result("local", "daemon.userns", "2.9", "userns", "config", "skipped", "host-feature-missing",
               ["host lacks 'userns-remap'"], "enable it", feature="userns-remap"),
        Result("local", "daemon.tls", "2.6", "tls", "config", "error", "environment", ["engine timeout"], "fix"),
    ]  # fmt: skip


def test_audit_junit_is_valid_and_named_like_run(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "junit.xml", results(), ["host x did not answer"])
    SCHEMA.validate(str(path))
    cases = {(c.get("classname"), c.get("name")) for c in ET.parse(path).iter("testcase")}
    assert ("seccomp-default", "keyctl-blocked") in cases and ("daemon", "icc") in cases


def test_audit_allure_never_calls_a_missing_host_feature_flaky(tmp_path: Path) -> None:
    folder = write_allure(tmp_path / "allure", results(), {"started": 0}, tmp_path / "none")
    flaky = {}
    for f in folder.glob("*-result.json"):
        data = json.loads(f.read_text())
        flaky[data["fullName"].rsplit(".", 1)[-1]] = data["statusDetails"]["flaky"]
    assert flaky["userns"] is False and flaky["tls"] is True and flaky["icc"] is False


def test_grade_junit_is_valid() -> None:
    bob = {"student": "bob", "score": 2, "max": 5, "assignments": [{"id": "seccomp", "checks": [
        {"case": "chown", "outcome": "failed", "message": "FAIL exit code", "hint": "h"},
        {"case": "fchownat", "outcome": "passed"}, {"case": "x", "outcome": "error", "message": "engine"}]}]}
    SCHEMA.validate(junit(bob))
    case = ET.fromstring(junit(bob)).find("testcase")
    assert case is not None and "." not in (case.get("classname") or "")


def test_pytest_junit_is_normalized(tmp_path: Path) -> None:
    """What pytest writes (testcase properties, file and line attributes) becomes valid, with readable names."""
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" '
        'skipped="0" tests="1" time="1.000"><testcase classname="scenarios.apparmor.docker-nginx.toml" '
        'name="ping-denied" file="scenarios/apparmor/docker-nginx.toml" line="7" time="0.9"><properties>'
        '<property name="hardlab" value="{}"/></properties><failure message="FAILED">x</failure></testcase>'
        "</testsuite></testsuites>"
    )
    record = {"nodeid": "scenarios/apparmor/docker-nginx.toml::ping-denied", "scenario": "docker-nginx",
              "case": "ping-denied", "file": "scenarios/apparmor/docker-nginx.toml", "line": 7}  # fmt: skip
    pytest_junit.normalize(path, [record])
    SCHEMA.validate(str(path))
    case = ET.parse(path).find(".//testcase")
    assert case is not None and (case.get("classname"), case.get("name")) == ("docker-nginx", "ping-denied")
    out = case.find("system-out")
    assert out is not None and "at scenarios/apparmor/docker-nginx.toml:7" in (out.text or "")


def check_sarif(doc: dict) -> list[dict]:
    """The SARIF 2.1.0 rules a code-scanning upload checks (a structural check: the OASIS schema is not
    vendored, its licence terms are not the project's)."""
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    for res in run["results"]:
        assert res["level"] in {"none", "note", "warning", "error"} and res["message"]["text"]
        assert rule_ids[res["ruleIndex"]] == res["ruleId"]
        for loc in res.get("locations", []):
            phys = loc.get("physicalLocation")
            if phys:
                assert not phys["artifactLocation"]["uri"].startswith("/")  # relative to the repo
                assert phys["region"]["startLine"] >= 1
    return list(run["results"])


def test_sarif_from_summary_points_at_the_toml_line() -> None:
    summary = {"results": [
        {"nodeid": "scenarios/x.toml::a", "scenario": "x", "case": "a", "title": "A", "outcome": "failed",
         "classification": "control-failed", "file": "scenarios/x.toml", "line": 12, "message": "FAILED: A",
         "cis": [{"id": "5.21"}]},
        {"nodeid": "scenarios/x.toml::b", "scenario": "x", "case": "b", "outcome": "passed"},
        {"nodeid": "scenarios/x.toml::c", "scenario": "x", "case": "c", "outcome": "error",
         "classification": "harness-error", "file": "scenarios/x.toml", "line": 30},
    ]}  # fmt: skip
    found = check_sarif(sarif.from_summary(summary))
    assert [(r["ruleId"], r["level"]) for r in found] == [("x/a", "error"), ("x/c", "warning")]
    region = found[0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 12} and found[0]["properties"]["cis"] == ["5.21"]


def test_report_page_renders_run_and_audit_results(tmp_path: Path) -> None:
    from hardlab.audit.report import write_json
    from hardlab.cli import report
    from hardlab.core.htmlreport import render

    audit = write_json(tmp_path / "results.json", results(), {"run_id": "n1", "hosts": {}}, [])
    assert report.main([str(audit)]) == 0
    page = (tmp_path / "results.html").read_text()
    assert page.index("FAILED") < page.index("HELD") and "keyctl allowed" in page
    assert "https://www.cisecurity.org/benchmark/docker" in page and "<script" not in page
    run = {"results": [{"nodeid": "s.toml::a", "outcome": "skipped", "reason": "host lacks 'apparmor' <x>",
                        "title": "t", "image": "lab:busybox", "container": {"cap_drop": ["ALL"]}}]}  # fmt: skip
    html_ = render(run)
    assert "skipped because:</b> host lacks &#x27;apparmor&#x27; &lt;x&gt;" in html_ and "cap_drop" in html_
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert report.main([str(bad)]) == 2
