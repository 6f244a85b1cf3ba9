"""The scan matcher without docker: inventory parsing, OSV feed validation, severities, matching, the klar gate."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from hardlab.cli import scan
from hardlab.scan.backends import parse_grype, parse_trivy
from hardlab.scan.feed import FeedError, Severity, cvss3_base_score, load_feed, severity_from_score
from hardlab.scan.inventory import (
    NoPackageDatabase,
    build_inventory,
    parse_apk_installed,
    parse_dpkg_status,
    parse_os_release,
    read_rootfs,
)
from hardlab.scan.matching import in_range, match
from hardlab.scan.model import Finding, Gate
from hardlab.scan.run import run_scan

LAB_FEED = Path(__file__).resolve().parents[2] / "labs" / "advisories"

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u4
Source: glibc
Description: GNU C Library
 continuation line: with a colon

Package: libc-bin
Status: install ok installed
Version: 2.36-9+deb12u4
Source: glibc

Package: mount
Status: install ok installed
Version: 1:2.38.1-5+deb12u3
Source: util-linux (2.38.1-5+deb12u3)

Package: zlib1g
Status: install ok installed
Version: 1:1.2.13.dfsg-1
Source: zlib

Package: bash
Status: install ok installed
Version: 5.2.15-2+b8
Source: bash (5.2.15-2)

Package: debianutils
Status: install ok installed
Version: 5.7-0.5~deb12u1

Package: oldstuff
Status: deinstall ok config-files
Version: 1.0-1
"""

OS_RELEASE_DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'

APK_DB = """\
C:Q1abc=
P:musl
V:1.2.4-r2
o:musl

P:libcrypto3
V:3.1.4-r5
o:openssl

P:busybox
V:1.36.1-r15
"""


def osv(
    vid: str, name: str, events: list[dict], severity: str | None = "High", eco: str = "Debian:12", **extra: object
) -> dict:
    aff: dict = {"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    if severity is not None:
        aff["ecosystem_specific"] = {"severity": severity}
    return {"id": vid, "summary": f"test {vid}", "affected": [aff], **extra}


def write_feed(tmp_path: Path, entries: list[dict]) -> Path:
    feed = tmp_path / "feed"
    feed.mkdir()
    for e in entries:
        (feed / f"{e['id']}.json").write_text(json.dumps(e))
    return feed


@pytest.fixture
def debian_inventory():
    return build_inventory("test", {"etc/os-release": OS_RELEASE_DEBIAN, "var/lib/dpkg/status": DPKG_STATUS})


# --------------------------------------------------------------------------------------------- inventory


def test_dpkg_status_installed_only_with_source_versions() -> None:
    pkgs = {p.name: p for p in parse_dpkg_status(DPKG_STATUS)}
    assert "oldstuff" not in pkgs  # config-files only: nothing installed
    assert pkgs["libc6"].source == "glibc" and pkgs["libc6"].source_version == "2.36-9+deb12u4"
    # binary carries an epoch, the source version does not: advisories compare the source version
    assert pkgs["mount"].version == "1:2.38.1-5+deb12u3"
    assert pkgs["mount"].source_version == "2.38.1-5+deb12u3"
    assert pkgs["bash"].source_version == "5.2.15-2"  # binNMU +b8 is not part of the source version
    assert pkgs["debianutils"].source == "debianutils"  # no Source: field means same name


def test_apk_installed_uses_origin() -> None:
    pkgs = {p.name: p for p in parse_apk_installed(APK_DB)}
    assert pkgs["libcrypto3"].source == "openssl"
    assert pkgs["busybox"].source == "busybox"  # no o: line
    assert {p.kind for p in pkgs.values()} == {"apk"}


def test_os_release_quotes() -> None:
    assert parse_os_release(OS_RELEASE_DEBIAN) == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "ID": "debian",
        "VERSION_ID": "12",
    }


def test_no_package_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "busybox").write_text("")
    with pytest.raises(NoPackageDatabase, match=r"no package database found in .*var/lib/dpkg/status"):
        read_rootfs(tmp_path)
    with pytest.raises(NoPackageDatabase, match="no package database found in scratch-image"):
        build_inventory("scratch-image", {"etc/os-release": OS_RELEASE_DEBIAN})


def test_rootfs_follows_os_release_symlink_inside_the_rootfs(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/os-release").write_text(OS_RELEASE_DEBIAN)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").symlink_to("../usr/lib/os-release")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    inv = read_rootfs(tmp_path)
    assert (inv.distro, inv.version_id, inv.kind) == ("debian", "12", "dpkg")
    assert len(inv.packages) == 6


def test_distroless_status_d(tmp_path: Path) -> None:
    inv = build_inventory(
        "distroless",
        {
            "etc/os-release": OS_RELEASE_DEBIAN,
            "var/lib/dpkg/status.d/libc6": (
                "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nSource: glibc\n"
            ),
            "var/lib/dpkg/status.d/tzdata": "Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0\n",
        },
    )
    assert sorted(p.name for p in inv.packages) == ["libc6", "tzdata"]


# --------------------------------------------------------------------------------------------- severities


def test_severity_order_is_clairs() -> None:
    order = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]
    parsed = [Severity.parse(s) for s in order]
    assert parsed == sorted(parsed)
    assert [s.label for s in sorted(Severity)] == order


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HIGH", Severity.HIGH),
        ("moderate", Severity.MEDIUM),
        ("important", Severity.HIGH),
        ("unimportant", Severity.NEGLIGIBLE),
        ("not yet assigned", Severity.UNKNOWN),
        ("Critical", Severity.CRITICAL),
    ],
)
def test_severity_synonyms(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


def test_unknown_severity_word_rejected() -> None:
    with pytest.raises(ValueError, match="unknown severity 'severe'"):
        Severity.parse("severe")


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
    ],
)
def test_cvss3_base_scores(vector: str, score: float) -> None:
    assert cvss3_base_score(vector) == score


def test_score_bands() -> None:
    assert [severity_from_score(s).label for s in (0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10)] == [
        "Negligible",
        "Low",
        "Low",
        "Medium",
        "Medium",
        "High",
        "High",
        "Critical",
        "Critical",
    ]


# --------------------------------------------------------------------------------------------- gate


def _findings(*sevs: Severity) -> list[Finding]:
    return [Finding(f"X-{i}", "pkg", ["pkg"], "1", None, s) for i, s in enumerate(sevs)]


def test_gate_count_equal_to_threshold_passes() -> None:
    fs = _findings(*[Severity.HIGH] * 15)
    assert Gate(Severity.HIGH, 15).count(fs) == 15
    assert Gate(Severity.HIGH, 15).passed(fs)
    assert not Gate(Severity.HIGH, 14).passed(fs)


def test_gate_counts_at_or_above_the_severity() -> None:
    fs = _findings(Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN)
    assert Gate(Severity.HIGH, 0).count(fs) == 2
    assert Gate(Severity.MEDIUM, 0).count(fs) == 3
    assert Gate(Severity.UNKNOWN, 0).count(fs) == 5
    assert Gate(Severity.CRITICAL, 1).passed(fs)
    assert not Gate(Severity.CRITICAL, 0).passed(fs)


def test_gate_threshold_zero_fails_on_one() -> None:
    assert Gate(Severity.HIGH, 0).passed([])
    assert not Gate(Severity.HIGH, 0).passed(_findings(Severity.HIGH))


# --------------------------------------------------------------------------------------------- ranges + matching


@pytest.mark.parametrize(
    ("version", "events", "expected"),
    [
        ("1.0-1", [{"introduced": "0"}, {"fixed": "1.0-2"}], (True, "1.0-2")),
        ("1.0-2", [{"introduced": "0"}, {"fixed": "1.0-2"}], (False, None)),
        ("0.9", [{"introduced": "1.0"}, {"fixed": "2.0"}], (False, None)),
        ("1.5", [{"introduced": "1.0"}, {"fixed": "2.0"}], (True, "2.0")),
        ("1.5", [{"introduced": "0"}, {"last_affected": "1.5"}], (True, None)),
        ("1.6", [{"introduced": "0"}, {"last_affected": "1.5"}], (False, None)),
        ("1.5", [{"introduced": "0"}], (True, None)),
        # two ranges in one: introduced again after a fix
        ("3.0", [{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}, {"fixed": "4.0"}], (True, "4.0")),
        ("1.5", [{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}, {"fixed": "4.0"}], (False, None)),
        # events out of order in the file still work
        ("1.5", [{"fixed": "2.0"}, {"introduced": "0"}], (True, "2.0")),
    ],
)
def test_osv_range_evaluation(version: str, events: list[dict], expected: tuple) -> None:
    parsed = tuple(next(iter(e.items())) for e in events)
    assert in_range("dpkg", version, parsed) == expected


def test_match_by_source_package_with_epochs_and_tilde(tmp_path: Path, debian_inventory) -> None:
    feed = load_feed(
        write_feed(
            tmp_path,
            [
                osv("T-glibc", "glibc", [{"introduced": "0"}, {"fixed": "2.36-9+deb12u7"}], "Critical"),
                osv("T-glibc-fixed", "glibc", [{"introduced": "0"}, {"fixed": "2.36-9+deb12u1"}]),
                osv("T-libc6-binary-name", "libc6", [{"introduced": "0"}, {"fixed": "9"}]),  # not a source name
                osv("T-util-linux", "util-linux", [{"introduced": "0"}, {"fixed": "2.38.1-5+deb12u4"}]),
                osv("T-zlib-epoch-trap", "zlib", [{"introduced": "0"}, {"fixed": "1.3.1-1"}]),
                osv("T-zlib-epoch", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}]),
                osv("T-tilde", "debianutils", [{"introduced": "0"}, {"fixed": "5.7-0.5"}], "Medium"),
                osv("T-bash-binnmu", "bash", [{"introduced": "0"}, {"fixed": "5.2.15-2+b1"}]),
                osv("T-curl", "curl", [{"introduced": "0"}, {"fixed": "99"}]),
                osv("T-other-release", "glibc", [{"introduced": "0"}, {"fixed": "99"}], eco="Debian:11"),
                osv("T-any-release", "glibc", [{"introduced": "0"}, {"fixed": "2.36-9+deb12u5"}], "Low", eco="Debian"),
                osv("T-alpine", "glibc", [{"introduced": "0"}, {"fixed": "99"}], eco="Alpine:v3.19"),
                osv("T-withdrawn", "glibc", [{"introduced": "0"}, {"fixed": "99"}], withdrawn="2026-01-01T00:00:00Z"),
            ],
        )
    )
    found = {f.id: f for f in match(debian_inventory, feed)}
    assert sorted(found) == ["T-any-release", "T-bash-binnmu", "T-glibc", "T-tilde", "T-util-linux", "T-zlib-epoch"]
    glibc = found["T-glibc"]
    assert (glibc.source, sorted(glibc.packages), glibc.installed, glibc.fixed) == (
        "glibc",
        ["libc-bin", "libc6"],
        "2.36-9+deb12u4",
        "2.36-9+deb12u7",
    )
    assert glibc.severity is Severity.CRITICAL
    assert found["T-util-linux"].installed == "2.38.1-5+deb12u3"


def test_match_alpine_origin_and_release(tmp_path: Path) -> None:
    files = {"etc/os-release": "ID=alpine\nVERSION_ID=3.19.1\n", "lib/apk/db/installed": APK_DB}
    inv = build_inventory("alpine", files)
    feed = load_feed(
        write_feed(
            tmp_path,
            [
                osv("A-openssl", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r6"}], eco="Alpine:v3.19"),
                osv("A-openssl-old", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r5"}], eco="Alpine:v3.19"),
                osv("A-musl-rc", "musl", [{"introduced": "0"}, {"fixed": "1.2.4_rc1"}], eco="Alpine:v3.19"),
                osv("A-other-branch", "openssl", [{"introduced": "0"}, {"fixed": "9"}], eco="Alpine:v3.18"),
            ],
        )
    )
    found = {f.id: f for f in match(inv, feed)}
    assert sorted(found) == ["A-openssl"]
    assert found["A-openssl"].packages == ["libcrypto3"]


def test_match_explicit_versions_list(tmp_path: Path, debian_inventory) -> None:
    entry = {
        "id": "T-list",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "zlib"}, "versions": ["1:1.2.13.dfsg-1"]}],
    }
    found = match(debian_inventory, load_feed(write_feed(tmp_path, [entry])))
    assert [(f.id, f.fixed, f.severity) for f in found] == [("T-list", None, Severity.UNKNOWN)]


def test_severity_from_cvss_vector_and_debian_urgency(tmp_path: Path, debian_inventory) -> None:
    cvss = osv("T-cvss", "glibc", [{"introduced": "0"}], severity=None)
    cvss["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}]
    urgency = osv("T-urgency", "zlib", [{"introduced": "0"}], severity=None)
    urgency["affected"][0]["ecosystem_specific"] = {"urgency": "unimportant"}
    found = {f.id: f.severity for f in match(debian_inventory, load_feed(write_feed(tmp_path, [cvss, urgency])))}
    assert found == {"T-cvss": Severity.HIGH, "T-urgency": Severity.NEGLIGIBLE}


# --------------------------------------------------------------------------------------------- malformed feeds


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"summary": "no id"}, r"T\.json: id: missing or empty"),
        ({"id": "T", "affected": {"package": {}}}, r"T\.json: T: affected: expected a list"),
        ({"id": "T", "affected": [{"ranges": []}]}, r"affected\[0\]\.package: missing"),
        (
            {"id": "T", "affected": [{"package": {"ecosystem": "Debian:12"}, "ranges": []}]},
            r"affected\[0\]\.package\.name: missing or empty",
        ),
        (
            {"id": "T", "affected": [{"package": {"ecosystem": "Debian:12", "name": "x"}}]},
            r"affected\[0\]: needs `ranges` or `versions`",
        ),
        (
            osv("T", "x", [{"introduced": "0"}, {"fix": "1.0"}]),
            r"affected\[0\]\.ranges\[0\]\.events\[1\]\.fix: unknown event",
        ),
        (osv("T", "x", [{"introduced": "0", "fixed": "1"}]), r"events\[0\]: expected exactly one of"),
        (
            osv("T", "x", [{"introduced": "0"}, {"fixed": "not a version"}]),
            r"events\[1\]\.fixed: 'not a version' is not a valid dpkg version",
        ),
        (
            osv("T", "x", [{"introduced": "0"}, {"fixed": "1.2-3"}], eco="Alpine:v3.19"),
            r"events\[1\]\.fixed: '1\.2-3' is not a valid apk version",
        ),
        (
            osv("T", "x", [{"introduced": "0"}], severity="Severe"),
            r"affected\[0\]\.ecosystem_specific\.severity: unknown severity 'Severe'",
        ),
        (
            {
                **osv("T", "x", [{"introduced": "0"}]),
                "affected": [
                    {"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "RANGE", "events": []}]}
                ],
            },
            r"ranges\[0\]\.type: 'RANGE'; expected ECOSYSTEM, SEMVER or GIT",
        ),
    ],
)
def test_malformed_entry_names_file_and_key(tmp_path: Path, entry: dict, message: str) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "T.json").write_text(json.dumps(entry))
    with pytest.raises(FeedError, match=message):
        load_feed(feed)


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "broken.json").write_text('{\n  "id": "T",\n  "affected": [,]\n}\n')
    with pytest.raises(FeedError, match=r"broken\.json: line 3 column \d+: invalid JSON"):
        load_feed(feed)


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    feed = write_feed(tmp_path, [osv("T-1", "x", [{"introduced": "0"}])])
    (feed / "copy.json").write_text(json.dumps(osv("T-1", "y", [{"introduced": "0"}])))
    with pytest.raises(FeedError, match="T-1: duplicate id"):
        load_feed(feed)


def test_missing_or_empty_feed(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="advisory feed not found"):
        load_feed(tmp_path / "nope")
    with pytest.raises(FeedError, match=r"no \*\.json advisory files"):
        load_feed(tmp_path)


def test_osv_api_response_shape_accepted(tmp_path: Path, debian_inventory) -> None:
    (tmp_path / "export.json").write_text(
        json.dumps(
            {
                "vulns": [
                    osv("V-1", "glibc", [{"introduced": "0"}, {"fixed": "9"}]),
                    osv("V-2", "zlib", [{"introduced": "0"}, {"fixed": "9"}]),
                ]
            }
        )
    )
    assert sorted(f.id for f in match(debian_inventory, load_feed(tmp_path / "export.json"))) == ["V-1"]


# --------------------------------------------------------------------------------------------- lab feed + CLI


def test_lab_feed_loads_and_is_marked_as_lab_data() -> None:
    feed = load_feed(LAB_FEED)
    assert len(feed.advisories) >= 30
    for adv in feed.advisories:
        assert adv.id.startswith("HLAB-")
        assert adv.summary.startswith("lab")
    assert "LAB DATA" in (LAB_FEED / "README.md").read_text()


def _rootfs(tmp_path: Path, status: str) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(OS_RELEASE_DEBIAN)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(status)
    return root


def test_cli_gate_exit_codes_and_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _rootfs(tmp_path, DPKG_STATUS)
    feed = write_feed(
        tmp_path, [osv(f"T-{i}", "glibc", [{"introduced": "0"}, {"fixed": f"2.36-9+deb12u{10 + i}"}]) for i in range(3)]
    )
    reports = tmp_path / "reports"
    args = [str(root), "--feed", str(feed), "--severity", "High", "--report-dir", str(reports)]
    assert scan.main([*args, "--threshold", "3"]) == 0  # 3 findings, threshold 3: passes
    assert scan.main([*args, "--threshold", "2"]) == 1
    out = capsys.readouterr().out
    assert "gate: 3 at or above High, threshold 2 -> FAIL" in out
    assert "T-0" in out and "2.36-9+deb12u10" in out
    assert len(list(reports.glob("scan-*.json"))) == 2  # one report per scan, none overwritten
    data = json.loads(Path(out.split("report: ")[-1].strip()).read_text())  # the failing run's report
    assert data["passed"] is False
    assert data["gate"] == {"severity": "High", "threshold": 2, "rule": "fail when count > threshold"}
    builtin = data["backends"]["builtin"]
    assert builtin["count"] == 3 and {f["id"] for f in builtin["findings"]} == {"T-0", "T-1", "T-2"}
    assert builtin["findings"][0]["packages"] == ["libc-bin", "libc6"]


def test_cli_input_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "scratch"
    empty.mkdir()
    feed = write_feed(tmp_path, [osv("T-1", "glibc", [{"introduced": "0"}])])
    assert scan.main([str(empty), "--feed", str(feed), "--report-dir", str(tmp_path)]) == 2
    assert "no package database found" in capsys.readouterr().err
    (feed / "bad.json").write_text('{"id": "B", "affected": [{"package": {"ecosystem": "Debian:12"}}]}')
    assert scan.main([str(_rootfs(tmp_path, DPKG_STATUS)), "--feed", str(feed), "--report-dir", str(tmp_path)]) == 2
    assert "bad.json: B: affected[0].package.name: missing or empty" in capsys.readouterr().err


def test_external_backend_falls_back_with_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither trivy nor grype on PATH
    root = _rootfs(tmp_path, DPKG_STATUS)
    feed = write_feed(tmp_path, [osv("T-1", "glibc", [{"introduced": "0"}])])
    assert (
        scan.main(
            [str(root), "--feed", str(feed), "--backend", "auto", "--threshold", "5", "--report-dir", str(tmp_path)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "fell back to the built-in matcher only: trivy is not installed; grype is not installed" in out


def test_trivy_and_grype_json_normalised() -> None:
    trivy = {
        "Results": [
            {
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-1",
                        "PkgName": "libc6",
                        "SrcName": "glibc",
                        "InstalledVersion": "2.36-9",
                        "FixedVersion": "2.36-10",
                        "Severity": "HIGH",
                    },
                    {
                        "VulnerabilityID": "CVE-1",
                        "PkgName": "libc-bin",
                        "SrcName": "glibc",
                        "InstalledVersion": "2.36-9",
                        "Severity": "HIGH",
                    },
                    {
                        "VulnerabilityID": "CVE-2",
                        "PkgName": "zlib1g",
                        "InstalledVersion": "1:1.2.13",
                        "Severity": "WEIRD",
                    },
                ]
            }
        ]
    }
    t = {f.id: f for f in parse_trivy(trivy)}
    assert t["CVE-1"].packages == ["libc6", "libc-bin"] and t["CVE-1"].severity is Severity.HIGH
    assert t["CVE-2"].severity is Severity.UNKNOWN
    grype = {
        "matches": [
            {
                "vulnerability": {"id": "CVE-3", "severity": "Negligible", "fix": {"versions": ["2"]}},
                "artifact": {"name": "libc6", "version": "1", "upstreams": [{"name": "glibc"}]},
            }
        ]
    }
    (g,) = parse_grype(grype)
    assert (g.source, g.fixed, g.severity) == ("glibc", "2", Severity.NEGLIGIBLE)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`hardlab scan ARGV` in-process: (exit code, stdout, stderr); argparse's usage errors included."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = scan.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def test_run_cli_captures_output_and_usage_errors(tmp_path: Path) -> None:
    root = _rootfs(tmp_path, DPKG_STATUS)
    feed = write_feed(tmp_path, [osv("T-1", "glibc", [{"introduced": "0"}])])
    code, out, err = run_cli([str(root), "--feed", str(feed), "--report-dir", str(tmp_path)])
    assert (code, err) == (1, "")  # default threshold 0, one High finding
    assert "gate: 1 at or above High, threshold 0 -> FAIL" in out
    code, _, err = run_cli([str(root), "--feed", str(feed), "--severity", "Severe"])
    assert code == 2 and "unknown severity 'Severe'" in err


def test_klar_environment_variables_are_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _rootfs(tmp_path, DPKG_STATUS)
    feed = write_feed(
        tmp_path,
        [osv("T-1", "glibc", [{"introduced": "0"}], "Medium"), osv("T-2", "zlib", [{"introduced": "0"}], "Low")],
    )
    monkeypatch.setenv("CLAIR_OUTPUT", "Low")
    monkeypatch.setenv("CLAIR_THRESHOLD", "1")
    code, out, _ = run_cli([str(root), "--feed", str(feed), "--report-dir", str(tmp_path)])
    assert code == 1 and "gate: 2 at or above Low, threshold 1 -> FAIL" in out and "Status: fail" in out
    monkeypatch.setenv("CLAIR_THRESHOLD", "2")
    code, out, _ = run_cli([str(root), "--feed", str(feed), "--report-dir", str(tmp_path)])
    assert code == 0 and "Status: pass" in out
    # an explicit option wins over the environment
    code, out, _ = run_cli(
        [str(root), "--feed", str(feed), "--severity", "Medium", "--threshold", "0", "--report-dir", str(tmp_path)]
    )
    assert code == 1 and "gate: 1 at or above Medium, threshold 0 -> FAIL" in out


def test_osv_zip_export_and_unknown_severity_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import zipfile

    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w") as zf:  # the shape of osv.dev's Debian/all.zip: one entry per file
        zf.writestr("DSA-0001-1.json", json.dumps(osv("DSA-0001-1", "glibc", [{"introduced": "0"}], None)))
        zf.writestr("DSA-0002-1.json", json.dumps(osv("DSA-0002-1", "zlib", [{"introduced": "0"}, {"fixed": "1"}])))
        zf.writestr("broken.json", json.dumps({"id": "X", "affected": "nope"}))
    with pytest.raises(FeedError, match=r"all\.zip!broken\.json: X: affected: expected a list"):
        load_feed(export)
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr("DSA-0001-1.json", json.dumps(osv("DSA-0001-1", "glibc", [{"introduced": "0"}], None)))
    code, out, _ = run_cli(
        [str(_rootfs(tmp_path, DPKG_STATUS)), "--feed", str(export), "--report-dir", str(tmp_path)]
    )
    assert code == 0  # the one finding has no severity, so it does not count at High ...
    assert "note: 1 finding(s) have no severity in the feed (Unknown)" in out  # ... and the output says so


def test_run_scan_is_the_command_as_a_library_call(tmp_path: Path) -> None:
    """What a scenario's scan step gets: the command's exit code, table and error text, without the CLI."""
    root = _rootfs(tmp_path, DPKG_STATUS)
    feed = write_feed(tmp_path, [osv("T-1", "glibc", [{"introduced": "0"}])])
    argv = [str(root), "--feed", str(feed), "--severity", "High", "--threshold", "0", "--report-dir", str(tmp_path)]
    code, out, err = run_cli(argv)
    done = run_scan(str(root), feed, "High", 0, report_dir=tmp_path)
    assert (done.exit_code, done.error) == (code, err) == (1, "")
    assert done.result is not None and done.text.replace(str(done.result.report), "R") == out.replace(
        out.split("report: ")[-1].strip(), "R"
    )
    bad = run_scan(str(root), feed, "Severe")
    assert bad.exit_code == 2 and bad.result is None and "unknown severity 'Severe'" in bad.error
    missing = run_scan(str(root), tmp_path / "no-such-feed", report_dir=tmp_path)
    assert missing.exit_code == 2 and missing.error.startswith("hardlab scan: ") and "no-such-feed" in missing.error


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
        ("CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1.0),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),  # CVSS v2 (no prefix)
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ],
)
def test_cvss_base_scores_v2_v3_v4(vector: str, score: float) -> None:
    from hardlab.scan.feed import cvss_base_score

    assert cvss_base_score(vector) == score


def test_a_cvss4_vector_gates_like_its_score(tmp_path: Path) -> None:
    """A real osv.dev export scores with CVSS:4.0: it must count at --severity High, not fall to Unknown."""
    v4 = {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}
    bad = {"type": "CVSS_V4", "score": "CVSS:4.0/AV:X"}
    entry = osv("V4-1", "glibc", [{"introduced": "0"}], None)
    feed = load_feed(write_feed(tmp_path, [{**entry, "severity": [v4]}]))
    (advisory,) = feed.advisories.values() if isinstance(feed.advisories, dict) else feed.advisories
    assert advisory.affected[0].severity == Severity.CRITICAL  # 9.3: counts at --severity High
    (tmp_path / "feed" / "V4-1.json").write_text(json.dumps({**entry, "severity": [bad]}))
    with pytest.raises(FeedError, match=r"severity\[0\]\.score"):
        load_feed(tmp_path / "feed")
