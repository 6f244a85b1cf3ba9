"""The engine matrix's data and the pure parts of fetching Debian's engines (no network, no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.engine import matrix
from hardlab.system import debian


def test_debian_upstream_versions() -> None:
    assert debian.upstream_of("26.1.5+dfsg1-9+deb13u1+b1") == "26.1.5"
    assert debian.upstream_of("20.10.24+dfsg1-1+deb12u1+b6") == "20.10.24"
    assert debian.upstream_of("1:2.3~rc1-2") == "2.3"
    assert debian.upstream_of("1.8.1") == "1.8.1"
    versions = ["26.1.6-1", "26.1.5+dfsg1-9+deb13u1+b1", "26.1.5+dfsg1-8"]
    assert debian.pick_version(versions, "26.1.5") == "26.1.5+dfsg1-9+deb13u1+b1"  # apt's order: preferred first
    assert debian.pick_version(versions, "26.1.50") is None


def test_a_fetched_deb_is_reused_without_asking_the_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = debian.Package("docker.io", "26.1.5", "trixie")
    deb = tmp_path / "debs" / "docker.io_26.1.5+dfsg1-9+deb13u1+b1_amd64.deb"
    deb.parent.mkdir()
    deb.write_bytes(b"not really a deb")

    def no_apt(*args: object, **kwargs: object) -> str:
        raise AssertionError("apt must not run when the .deb is cached")

    monkeypatch.setattr(debian, "_apt", no_apt)
    assert debian.fetch(package, tmp_path) == deb


def test_an_unpacked_release_is_not_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "docker-26.1.5"
    dest.mkdir()
    monkeypatch.setattr(debian, "fetch", lambda *a, **k: pytest.fail("fetched although unpacked"))
    assert debian.fetch_unpacked(debian.Package("docker.io", "26.1.5", "trixie"), dest, tmp_path / "apt") == dest


def test_the_private_apt_state_never_names_the_systems_folders(tmp_path: Path) -> None:
    options = " ".join(debian.apt_options(tmp_path))
    for key in ("Dir::Etc::SourceList", "Dir::State", "Dir::Cache", "Dir::State::status"):
        assert f"{key}={tmp_path}" in options
    assert "SourceParts=/dev/null" in options and "/etc/apt" not in options and "/var/lib/apt" not in options


def test_the_matrix_is_the_four_engines_of_issue_10() -> None:
    names = [spec.name for spec in matrix.MATRIX]
    assert names == ["20.10-runc", "20.10-crun", "26.1-runc", "26.1-crun"]
    assert matrix.by_name("26.1-crun").release is matrix.DOCKER_26_1
    assert matrix.by_name("26.1-crun").runtime is matrix.CRUN
    assert matrix.DOCKER_26_1.package == debian.Package("docker.io", "26.1.5", "trixie")
    with pytest.raises(KeyError, match=r"known: 20\.10-runc"):
        matrix.by_name("27.0-runc")


def test_known_failures_get_named_reasons() -> None:
    crun_spec = "failed to create shim task: OCI runtime create failed: unknown version specified: unknown"
    assert "containers/crun#1485" in (matrix.known_reason(crun_spec) or "")
    hybrid = "OCI runtime create failed: cgroups in hybrid mode not supported, drop all controllers from cgroupv2"
    assert "hybrid cgroup layout" in (matrix.known_reason(hybrid) or "")
    assert matrix.known_reason("no space left on device") is None


def test_the_crun_wrapper_only_hides_the_cgroup2_mount_in_its_own_namespace() -> None:
    text = matrix.CRUN_WRAPPER.format(crun="/usr/bin/crun")
    assert "unshare --mount --propagation private" in text
    assert "umount -l /sys/fs/cgroup/unified" in text and text.rstrip().endswith('/usr/bin/crun "$@"')
