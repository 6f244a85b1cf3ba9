"""The trust lab's processes: free ports, stopped by their own PID on success, failure, Ctrl-C; sweeps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hardlab.cli import trust as trust_cli
from hardlab.system.labtools import trust_lab_unavailable
from hardlab.system.processes import is_ours, stop
from hardlab.trust import lab as trust
from hardlab.trust import tools
from hardlab.trust.lab import TrustLab, start_lab

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int, marker: str) -> bool:
    return is_ours(pid, marker)


@pytest.fixture(autouse=True)
def _needs_tools() -> None:
    reason = trust_lab_unavailable()
    if reason:
        pytest.skip(reason)


def test_two_labs_side_by_side_then_gone() -> None:
    with start_lab() as one, start_lab() as two:
        assert {one.registry, one.notary}.isdisjoint({two.registry, two.notary})
        assert one.state_dir != two.state_dir
        labs = [(lab.pids.copy(), str(lab.state_dir)) for lab in (one, two)]
        for pids, marker in labs:
            assert all(_alive(pid, marker) for pid in pids.values())
        ca = one.docker_config / "tls" / one.notary / "ca.crt"
        assert ca.read_bytes() == one.ca.read_bytes()  # where the CLI looks for it
    for pids, marker in labs:
        assert not any(_alive(pid, marker) for pid in pids.values())
        assert not Path(marker).exists()


def test_failure_inside_the_lab_still_stops_it() -> None:
    seen: dict[str, int] = {}
    marker = ""
    with pytest.raises(RuntimeError, match="boom"), start_lab() as lab:
        seen, marker = dict(lab.pids), str(lab.state_dir)
        raise RuntimeError("boom")
    assert seen and not any(_alive(pid, marker) for pid in seen.values())


def test_ctrl_c_stops_the_servers(tmp_path: Path) -> None:
    # A separate Python that starts a lab, reports its PIDs, then gets SIGINT (what Ctrl-C sends).
    code = (
        "import json, sys, time\n"
        "from hardlab.trust.lab import start_lab\n"
        "with start_lab() as lab:\n"
        "    print(json.dumps({'pids': lab.pids, 'dir': str(lab.state_dir)}), flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        info = json.loads(proc.stdout.readline())
        assert all(_alive(pid, info["dir"]) for pid in info["pids"].values())
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0  # KeyboardInterrupt, not a clean exit
    assert not any(_alive(pid, info["dir"]) for pid in info["pids"].values())
    assert not Path(info["dir"]).exists()


def test_stop_never_signals_a_process_that_is_not_ours() -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert stop(other.pid, "/var/tmp/hardlab/trust/not-this-process") is False
        assert other.poll() is None  # still running: the marker was not in its command line
    finally:
        other.kill()
        other.wait()


def test_sweep_stops_labs_of_dead_owners() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lab = trust.launch(run_id=f"trust-{dead.pid}-{os.urandom(3).hex()}")
    try:
        pids, marker = dict(lab.pids), str(lab.state_dir)
        assert lab.run_id in trust.sweep_dead()
        assert not any(_alive(pid, marker) for pid in pids.values())
    finally:
        lab.stop()


def test_cli_up_status_down(capsys: pytest.CaptureFixture[str]) -> None:
    assert trust_cli.main(["up"]) == 0
    out = capsys.readouterr().out
    run_id = out.split()[2]
    lab = TrustLab.load(trust.state_root() / run_id)
    try:
        assert "export DOCKER_CONTENT_TRUST=1" in out and f"export DOCKER_CONFIG={lab.docker_config}" in out
        assert "skips the notary certificate check" in out
        assert trust_cli.main(["status"]) == 0
        assert run_id in capsys.readouterr().out
        assert trust_cli.main(["down", run_id]) == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p, str(lab.state_dir)) for p in lab.pids.values()):
            time.sleep(0.05)
        assert not any(_alive(p, str(lab.state_dir)) for p in lab.pids.values())
        assert trust_cli.main(["down", run_id]) == 2  # gone: a clear error, not a silent success
        assert f"no lab '{run_id}'" in capsys.readouterr().err
    finally:
        lab.stop()


def test_missing_packages_not_root_skips_with_the_package_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "docker").write_text("#!/bin/sh\n")
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # docker CLI present, registry/notary/openssl not
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = trust_lab_unavailable()
    assert reason and "docker-registry" in reason and "notary" in reason and "not root" in reason
    with pytest.raises(tools.TrustUnavailable, match="sudo apt-get install docker-registry notary"):
        tools.ensure_tools()
