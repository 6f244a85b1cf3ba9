"""The commands a user types: hardlab doctor, hardlab list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema

from .conftest import DATA, ROOT

pytestmark = pytest.mark.e2e


def hardlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardlab.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})  # fmt: skip


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
    assert done.returncode == 2  # bad input
    assert "scenarios/seccomp/default-profile.toml::filter-active" in done.stdout
    assert "invalid.toml: INVALID" in done.stdout and "unknown capability 'NOT_A_CAP'" in done.stdout


@pytest.mark.parametrize(("scenario", "code"), [
    ("valid.toml", 0),  # every check held
    ("wrong-expectation.toml", 1),  # a finding
    ("missing-image.toml", 2),  # a harness error, not a finding (pytest alone says 1 for both)
    ("broken-control.toml", 2),  # the permissive twin failed: the check proved nothing
])  # fmt: skip
def test_run_exit_codes(scenario: str, code: int, tmp_path: Path) -> None:
    done = hardlab("run", str(DATA / scenario), "-p", "no:cacheprovider", "--sarif", str(tmp_path / "run.sarif"),
                   env={"HARDLAB_REPORTS": str(tmp_path)})  # fmt: skip
    assert done.returncode == code, done.stdout + done.stderr
    assert (tmp_path / "summary.json").is_file() and (tmp_path / "junit.xml").is_file()
    xmlschema.XMLSchema(str(ROOT / "tests" / "data" / "junit.xsd")).validate(str(tmp_path / "junit.xml"))
    cases = [(c.get("classname"), c.get("name")) for c in ET.parse(tmp_path / "junit.xml").iter("testcase")]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert cases == [(r["scenario"], r["case"]) for r in summary["results"]]  # scenario id, case id
    doc = json.loads((tmp_path / "run.sarif").read_text())
    results = doc["runs"][0]["results"]
    assert doc["version"] == "2.1.0" and len(results) == (code != 0)
    for res in results:  # the finding points at its case's TOML line
        region = res["locations"][0]["physicalLocation"]
        assert region["artifactLocation"]["uri"] == f"tests/e2e/data/{scenario}"
        assert region["region"]["startLine"] == summary["results"][0]["line"]


def test_scan_gate_exit_codes(tmp_path: Path) -> None:
    failed = hardlab("scan", "lab:tools", "--feed", "labs/advisories", "--severity", "High", "--threshold", "15",
                     "--output", str(tmp_path / "scan.json"))  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr  # the gate failed: a finding
    assert json.loads((tmp_path / "scan.json").read_text())["passed"] is False
    passed = hardlab("scan", "lab:tools", "--feed", "labs/advisories", "--threshold", "10000",
                     "--output", str(tmp_path / "ok.json"))  # fmt: skip
    assert passed.returncode == 0, passed.stdout + passed.stderr


class VisibleText(HTMLParser):
    """The text a person sees without clicking: everything outside <style>, <script> and closed <details>."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "details"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "details"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def test_report_page_shows_a_failed_case_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    run = hardlab("run", str(DATA / "wrong-expectation.toml"), str(DATA / "valid.toml"), "-p", "no:cacheprovider",
                  env={"HARDLAB_REPORTS": str(tmp_path)})  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    done = hardlab("report", str(tmp_path / "summary.json"))
    assert done.returncode == 0, done.stderr
    page = tmp_path / "report.html"
    assert "http" not in page.read_text().split("<body>")[0]  # self-contained: nothing fetched to render it
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    seen = VisibleText()
    seen.feed(dom)
    text = " ".join(" ".join(seen.parts).split())
    first = text.index("FAILED")
    assert first < text.index("HELD")  # the finding comes first, its verdict before anything else
    assert "claims a default container runs without a seccomp filter" in text
    assert "/proc status Seccomp expected: 0 observed: 2" in text  # expected vs observed, without a click
    assert "tests/e2e/data/wrong-expectation.toml:7" in text and "container options" in text
