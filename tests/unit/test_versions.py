"""Version ordering: dpkg (epochs, `~`, revisions) and apk (suffixes, revisions, leading zeros)."""

from __future__ import annotations

import pytest

from hardlab.scan.versions import apk_compare, apk_valid, compare, dpkg_compare, dpkg_valid

# (older, newer) pairs: each must compare < 0 one way and > 0 the other.
DPKG_ORDERED = [
    ("1.0", "1.1"),
    ("1.9", "1.10"),  # numeric, not text
    ("1.0~rc1", "1.0"),  # ~ sorts before the end of the string
    ("1.0~rc1", "1.0~rc2"),
    ("1.0~~", "1.0~"),
    ("5.7-0.5~deb12u1", "5.7-0.5"),  # backport/stable-update suffix with ~ stays older
    ("252.39-1~deb12u1", "252.39-1~deb12u2"),
    ("2.36-9+deb12u4", "2.36-9+deb12u10"),
    ("1.0-1", "1.0-1+b1"),  # binNMU
    ("1.3.1-1", "1:1.2.13.dfsg-1"),  # epoch beats everything after it
    ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
    ("20240905-1", "3:20221126-1"),
    ("1.0", "1.0-0.1"),
    ("1.0a", "1.0b"),
    ("1.0", "1.0a"),  # letters sort after the end
    ("1.0+dfsg", "1.0.1"),  # among non-letters, plain ASCII order: '+' < '.'
]


@pytest.mark.parametrize(("older", "newer"), DPKG_ORDERED)
def test_dpkg_order(older: str, newer: str) -> None:
    assert dpkg_compare(older, newer) < 0
    assert dpkg_compare(newer, older) > 0
    assert compare("dpkg", older, newer) < 0


@pytest.mark.parametrize("version", ["1.0", "1:2.38.1-5+deb12u3", "0:1.0", "2.36-9+deb12u4", "1.0~rc1-1"])
def test_dpkg_equal_to_itself(version: str) -> None:
    assert dpkg_compare(version, version) == 0


def test_dpkg_zero_epoch_is_no_epoch() -> None:
    assert dpkg_compare("0:1.0-1", "1.0-1") == 0


@pytest.mark.parametrize("bad", ["", "a1.0", "x:1.0", "1:", "1.0 beta"])
def test_dpkg_invalid_versions_raise_naming_the_string(bad: str) -> None:
    assert not dpkg_valid(bad)
    with pytest.raises(ValueError, match="invalid dpkg version"):
        dpkg_compare(bad, "1.0")


APK_ORDERED = [
    ("1.2.3", "1.2.4"),
    ("1.2.9", "1.2.10"),
    ("1.2", "1.2.0"),  # more components is newer
    ("1.2.3-r0", "1.2.3-r1"),
    ("1.2.3", "1.2.3-r1"),
    ("1.2.3-r9", "1.2.4-r0"),
    ("1.2_alpha", "1.2_beta"),
    ("1.2_beta2", "1.2_pre1"),
    ("1.2_pre1", "1.2_rc1"),
    ("1.2_rc1", "1.2"),  # pre-release suffixes are older than the release
    ("1.2_rc1", "1.2_rc2"),
    ("1.2", "1.2_p1"),  # _p (patch) is newer than the release
    ("1.2_p1", "1.2_p2"),
    ("1.2_cvs", "1.2_svn"),
    ("1.2_git20240101", "1.2_p1"),
    ("1.2", "1.2a"),
    ("1.2a", "1.2b"),
    ("1.01", "1.1"),  # leading zero: compared as text, a fraction
    ("1.001", "1.01"),
    ("3.0.8-r0", "3.0.12-r0"),
    ("1.2.4-r9", "1.2.4-r10"),
]


@pytest.mark.parametrize(("older", "newer"), APK_ORDERED)
def test_apk_order(older: str, newer: str) -> None:
    assert apk_compare(older, newer) < 0
    assert apk_compare(newer, older) > 0
    assert compare("apk", older, newer) < 0


@pytest.mark.parametrize("version", ["1.2.3-r0", "1.2_rc1-r2", "2.0b", "0.9_git20240101", "1.4~a3f91c-r3"])
def test_apk_equal_and_valid(version: str) -> None:
    assert apk_valid(version)
    assert apk_compare(version, version) == 0


@pytest.mark.parametrize("bad", ["", "r1", "1.2-3", "1.2_foo", "1.2a.3", "1.2-r1-r2", "1..2", "1.2_"])
def test_apk_invalid_versions(bad: str) -> None:
    assert not apk_valid(bad)
    with pytest.raises(ValueError, match="invalid apk version"):
        apk_compare(bad, "1.0")
