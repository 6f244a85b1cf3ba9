"""Scanning real images offline: the lab image fails the klar gate, the slim variant passes, scratch has no db."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hardlab.cli import scan
from hardlab.scan.feed import Severity, load_feed
from hardlab.scan.image import read_image
from hardlab.scan.inventory import NoPackageDatabase
from hardlab.scan.matching import match
from hardlab.scan.model import Gate
from hardlab.scan.run import scan_target

docker = pytest.importorskip("docker")

LAB_FEED = Path(__file__).resolve().parents[2] / "labs" / "advisories"
TOOL_SOURCES = {"nmap", "python3.11", "strace", "iputils"}


@pytest.fixture(scope="module")
def client():
    try:
        c = docker.from_env()
        c.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"scan e2e needs a Docker Engine: {exc}")
    return c


def _lab_image(client, name: str) -> str:
    from hardlab.engine import images
    try:
        return images.ensure(client, f"lab:{name}")
    except images.ImageError as exc:
        pytest.skip(f"lab:{name} cannot be built on this host: {exc}")


@pytest.fixture(scope="module")
def tools_image(client) -> str:
    return _lab_image(client, "tools")


@pytest.fixture(scope="module")
def slim_image(client, tools_image: str) -> str:
    from hardlab.scan.lab import ensure_slim

    return ensure_slim(client, tools_image)


@pytest.fixture(scope="module")
def expected() -> dict[str, set[str]]:
    """From the lab feed itself: which advisories must and must not match the lab image."""
    feed = load_feed(LAB_FEED)
    negative = {a.id for a in feed.advisories if a.summary.startswith("lab negative")}
    positive = {a.id for a in feed.advisories} - negative
    tools = {a.id for a in feed.advisories if a.id in positive and a.affected[0].name in TOOL_SOURCES}
    return {"positive": positive, "negative": negative, "tools": tools}


@pytest.fixture
def run_id(monkeypatch: pytest.MonkeyPatch) -> str:
    rid = f"test-scan-{os.getpid()}-{os.urandom(3).hex()}"
    monkeypatch.setenv("HARDLAB_RUN_ID", rid)
    return rid


def test_lab_image_fails_the_gate_at_high_15(tools_image: str, expected, tmp_path: Path, client, run_id) -> None:
    result = scan_target(tools_image, LAB_FEED, "High", 15, report_dir=tmp_path)
    found = {f.id for f in result.findings}
    assert found == expected["positive"]  # every planted finding, and none of the negatives
    assert not found & expected["negative"]
    count = result.gate.count(result.findings)
    assert count > 15 and not result.passed
    report = json.loads(result.report.read_text())
    assert report["passed"] is False and report["backends"]["builtin"]["count"] == count
    for finding in report["backends"]["builtin"]["findings"]:
        assert finding["id"] and finding["source"] and finding["packages"] and finding["installed"]
        assert finding["severity"] in {"Unknown", "Negligible", "Low", "Medium", "High", "Critical"}
        assert "fixed" in finding
    # the stopped container used to copy the files out is gone
    assert client.containers.list(all=True, ignore_removed=True, filters={"label": f"hardlab.run={run_id}"}) == []


def test_gate_boundary_on_the_real_count(tools_image: str) -> None:
    findings = match(read_image(tools_image), load_feed(LAB_FEED))  # read once, gate many times
    high = Gate(Severity.HIGH, 0).count(findings)
    assert high > 15
    assert Gate(Severity.HIGH, high).passed(findings)  # count == threshold passes
    assert not Gate(Severity.HIGH, high - 1).passed(findings)
    # a lower severity counts more findings: Medium at the same threshold fails again
    assert not Gate(Severity.MEDIUM, high).passed(findings)
    assert Gate(Severity.CRITICAL, high).passed(findings)


def test_slim_variant_passes(slim_image: str, expected, tmp_path: Path) -> None:
    result = scan_target(slim_image, LAB_FEED, "High", 15, report_dir=tmp_path)
    found = {f.id for f in result.findings}
    assert result.passed
    assert not found & expected["tools"]  # the purged tools took their findings with them
    assert found == expected["positive"] - expected["tools"]  # control: the scan still sees the base system


def test_scratch_image_has_no_package_database(client, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    busybox = _lab_image(client, "busybox")
    with pytest.raises(NoPackageDatabase, match="no package database found"):
        scan_target(busybox, LAB_FEED, report_dir=tmp_path)
    assert scan.main([busybox, "--feed", str(LAB_FEED), "--report-dir", str(tmp_path)]) == 2
    assert f"no package database found in {busybox}" in capsys.readouterr().err


def test_cli_prints_every_finding_and_the_verdict(
    tools_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = scan.main(
        [tools_image, "--feed", str(LAB_FEED), "--severity", "High", "--threshold", "15", "--report-dir", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "-> FAIL" in out and "threshold 15" in out
    assert "glibc (libc-bin, libc6)" in out  # source package first, its binaries after
    assert list(tmp_path.glob("scan-*.json"))
