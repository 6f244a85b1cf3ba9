"""`hardlab audit` end to end: the main engine and ephemeral engines audited in one run, in parallel; a
deliberately weakened engine whose every weakness must FAIL the right check with the right evidence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardlab.engine import dockerd, images, labels

ROOT = Path(__file__).resolve().parents[2]
PROFILES = Path(__file__).resolve().parent / "audit_profiles"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ephemeral engines need root (dockerd, ip link)")

HARDENED = {"userns-remap": "default", "no-new-privileges": True, "live-restore": True, "log-driver": "json-file"}


def _audit(*args: str, out: Path, timeout: int = 600) -> tuple[int, str, dict[str, Any]]:
    cmd = [sys.executable, "-m", "hardlab.cli", "audit", "--out", str(out), *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    data = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else {}
    return done.returncode, done.stdout + done.stderr, data


def _get(data: dict[str, Any], host: str, check: str) -> dict[str, Any]:
    for r in data["results"]:
        if r["host"] == host and r["check"] == check:
            return r
    raise AssertionError(f"no result for {host} {check}")


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dockerd.Engine]]:
    """A hardened ephemeral engine and a weakened one (allow-all seccomp, no userns-remap, icc on,
    no no-new-privileges default), with a badly configured container running on the weakened one."""
    folder = tmp_path_factory.mktemp("weak")
    weak_cfg = {"seccomp-profile": str(dockerd.seccomp_allow_all(folder)), "icc": True}
    with dockerd.running("hardened", HARDENED) as hard, dockerd.running("weakened", weak_cfg) as weak:
        client = weak.client()
        image = images.ensure(client, "lab:busybox")
        bad = client.containers.run(
            image, ["sleep", "600"], detach=True, pid_mode="host", name="hl-audit-bad",
            volumes={
                str(weak.socket): {"bind": "/var/run/docker.sock", "mode": "rw"},
                "/etc": {"bind": "/h", "mode": "ro"},
            },
            labels=labels.for_run("e2e-audit-bad", labels.owner(), "audit negative control"),
        )  # fmt: skip
        try:
            yield {"hardened": hard, "weakened": weak}
        finally:
            bad.remove(force=True)


@pytest.fixture(scope="module")
def audited(engines: dict[str, dockerd.Engine], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("audit")
    code, output, data = _audit(
        "--host", "main=unix:///var/run/docker.sock",
        "--host", f"hardened={engines['hardened'].url}",
        "--host", f"weakened={engines['weakened'].url}",
        "--profile", f"hardened={PROFILES / 'remapped-waive-icc.toml'}",
        "--profile", f"weakened={PROFILES / 'remapped.toml'}",
        out=out,
    )  # fmt: skip
    return {"code": code, "output": output, "data": data, "out": out}


def test_three_engines_in_one_run_each_result_labelled(audited: dict[str, Any]) -> None:
    data = audited["data"]
    assert {r["host"] for r in data["results"]} == {"main", "hardened", "weakened"}, audited["output"]
    assert not data["harness_problems"], data["harness_problems"]
    # the weakened engine has findings, so the run must not exit 0 (nor 2: every engine answered)
    assert audited["code"] == 1, audited["output"]
    for r in data["results"]:
        assert {"host", "cis", "title", "status", "evidence", "remediation", "duration"} <= set(r)
        assert r["evidence"], r
    for name in ("junit.xml", "summary.txt", "history.json"):
        assert (audited["out"] / name).is_file()
    assert list((audited["out"] / "allure-results").glob("*-result.json"))


def test_hardened_engine_passes_userns_by_behaviour(audited: dict[str, Any]) -> None:
    data = audited["data"]
    for check in ("daemon.userns-remap", "behaviour.host-userns-remap/root-maps-to-unprivileged-uid",
                  "behaviour.userns-bind-mount-owner", "daemon.no-new-privileges", "daemon.live-restore",
                  "behaviour.host-no-new-privileges/suid-does-not-gain-root",
                  "behaviour.host-seccomp-default/keyctl-blocked", "daemon.seccomp-profile"):  # fmt: skip
        r = _get(data, "hardened", check)
        assert r["status"] == "passed", r
    owner = _get(data, "hardened", "behaviour.userns-bind-mount-owner")
    assert "owned by uid 0" in "\n".join(owner["evidence"])  # the control: --userns=host writes as root
    assert "container root is host uid 100000" in owner["evidence"][0] or "unprivileged" in owner["evidence"][0]
    waived = _get(data, "hardened", "daemon.icc")
    assert (waived["status"], waived["classification"]) == ("skipped", "waived"), waived


def test_weakened_engine_fails_each_weakness_with_its_evidence(audited: dict[str, Any]) -> None:
    data = audited["data"]
    seccomp_conf = _get(data, "weakened", "daemon.seccomp-profile")
    assert (seccomp_conf["status"], seccomp_conf["classification"]) == ("failed", "control-failed")
    assert "SCMP_ACT_ALLOW" in seccomp_conf["evidence"][0]

    seccomp_beh = _get(data, "weakened", "behaviour.host-seccomp-default/keyctl-blocked")
    assert (seccomp_beh["status"], seccomp_beh["classification"]) == ("failed", "control-failed"), seccomp_beh
    text = "\n".join(seccomp_beh["evidence"])
    assert "FAIL errno: expected EPERM; observed ENOTSUP" in text, text  # EOPNOTSUPP: reached the kernel

    icc = _get(data, "weakened", "daemon.icc")
    assert icc["status"] == "failed" and "enable_icc=true" in icc["evidence"][0], icc

    for check in ("daemon.userns-remap", "behaviour.host-userns-remap/root-maps-to-unprivileged-uid",
                  "behaviour.userns-bind-mount-owner"):  # fmt: skip
        r = _get(data, "weakened", check)
        assert (r["status"], r["classification"]) == ("failed", "required-feature-missing"), r
        assert "requires 'userns-remap'" in r["evidence"][0]

    nnp = _get(data, "weakened", "behaviour.host-no-new-privileges/suid-does-not-gain-root")
    assert nnp["status"] == "failed" and "euid=0" in "\n".join(nnp["evidence"]), nnp

    for check, needle in (("runtime.host-pid", "PidMode=host"), ("runtime.docker-socket", "docker.sock"),
                          ("runtime.sensitive-mounts", "/etc -> /h")):  # fmt: skip
        r = _get(data, "weakened", check)
        assert r["status"] == "failed" and "hl-audit-bad" in "\n".join(r["evidence"]), r
        assert needle in "\n".join(r["evidence"]), r
    # the same checks hold on the hardened engine, where nothing runs: the check is not blind
    assert _get(data, "hardened", "runtime.host-pid")["status"] == "passed"


def test_findings_and_environment_are_separated_in_every_output(audited: dict[str, Any]) -> None:
    data, out = audited["data"], audited["out"]
    assert data["classifications"].get("control-failed", 0) >= 1
    assert data["classifications"].get("required-feature-missing", 0) >= 3
    junit = (out / "junit.xml").read_text()
    assert 'type="required-feature-missing"' in junit and 'type="waived"' in junit
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("hardlab audit") and "FINDINGS" in summary.splitlines()[0]
    assert "[weakened] CIS 2.2 daemon.icc" in summary
    allure = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    weak_icc = next(a for a in allure if a["fullName"] == "host-audit.weakened.daemon.icc")
    assert weak_icc["status"] == "failed" and weak_icc["statusDetails"]["message"].startswith("[control-failed]")


def test_history_carries_over_between_nights(engines: dict[str, dockerd.Engine], tmp_path: Path) -> None:
    """Two nights against the weakened engine (config only, quick): the trend grows, allure history is copied."""
    out = tmp_path / "audit"
    for night in (1, 2):
        code, output, _ = _audit("--config-only", "--host", f"weakened={engines['weakened'].url}", out=out)
        assert code == 1, output
        if night == 1:  # what `allure generate` would have left behind after night 1
            hist = out / "allure-report" / "history"
            hist.mkdir(parents=True)
            (hist / "history-trend.json").write_text('[{"data": {"failed": 5}}]')
    history = json.loads((out / "history.json").read_text())
    assert len(history["runs"]) == 2
    assert [t["status"] for t in history["checks"]["weakened::daemon.icc"]["trend"]] == ["failed", "failed"]
    assert (out / "allure-results" / "history" / "history-trend.json").is_file()


def test_unreachable_engine_exits_2_and_is_reported(tmp_path: Path) -> None:
    code, output, data = _audit("--config-only", "--host", "gone=unix:///tmp/hardlab-no-such-engine.sock",
                                out=tmp_path / "a")  # fmt: skip
    assert code == 2, output
    r = _get(data, "gone", "engine.reachable")
    assert (r["status"], r["classification"]) == ("error", "environment")
    assert "HARNESS" in (tmp_path / "a" / "summary.txt").read_text()


def test_bad_profile_exits_2_naming_file_line_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\n[profile]\nname = "x"\nrequire = ["userns-remapp"]\n')
    code, output, _ = _audit("--config-only", "--profile", str(bad), out=tmp_path / "a")
    assert code == 2
    assert f"{bad}:4: profile.require: unknown feature 'userns-remapp' (did you mean 'userns-remap'?)" in output


def test_engine_is_reaped_when_its_owner_is_killed() -> None:
    """kill -9 of the process that started an engine: the next sweep stops it and removes its bridge."""
    code = (
        "import sys, time; from hardlab.engine import dockerd\n"
        "e, lock = dockerd.start('orphan', {})\n"
        "print(e.pidfile.read_text().strip(), e.bridge, e.root, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pid, bridge, root = proc.stdout.readline().split()  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait()
    assert Path(f"/proc/{pid}").exists()
    assert dockerd.sweep_dead() >= 1
    assert not Path(f"/proc/{pid}").exists() or "dockerd" not in Path(f"/proc/{pid}/cmdline").read_text()
    assert bridge not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not Path(root).exists()
