"""hardlab learn on a real engine: record -> generate -> prove, and a broken profile fails naming the call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from hardlab.learn import profile as gen
from hardlab.spec import load, seccomp_text_problems
from tests.e2e.conftest import ROOT, leftovers


def learn(*args: str, run_id: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARDLAB_RUN_ID": run_id}
    return subprocess.run(
        [sys.executable, "-m", "hardlab.cli", "learn", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def test_learn_proves_the_profile_and_a_broken_one_names_the_missing_syscall(tmp_path: Path, docker_client) -> None:
    run_id = "e2e-learn-" + uuid.uuid4().hex[:8]
    done = learn("--run", "cat /etc/hostname", "--out", str(tmp_path), "--name", "cat", run_id=run_id)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "proof passed" in out and "method: strace -f" in out
    profile_file = tmp_path / "cat.json"
    assert not seccomp_text_problems(profile_file.read_text(), str(profile_file))
    prof = json.loads(profile_file.read_text())
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["archMap"][0]["subArchitectures"]
    assert {"openat", "read", "execve"} <= gen.allowed(prof) and "mount" not in gen.allowed(prof)
    ids = [c.id for c in load(tmp_path / "cat.toml").cases]
    assert {"workload-1", "refuses-mount-i386", "never-made-fchownat", "clone3-enosys-i386"} <= set(ids)

    # One needed syscall removed: the proof fails and names it.
    profile_file.write_text(gen.to_json(gen.without(prof, ["openat"])))
    broken = learn("--prove", str(profile_file), run_id=run_id)
    out = broken.stdout + broken.stderr
    assert broken.returncode == 1, out
    assert "proof FAILED: workload-1" in out and "needs openat" in out, out
    assert leftovers(docker_client, run_id) == []


def test_a_script_under_its_own_run_options_is_learned_and_proven(tmp_path: Path, docker_client) -> None:
    """--run-file and --container: recorded, generated and proven with the workload's own options (a
    non-root user on a read-only root with a tmpfs); a bad option is one sentence before any container."""
    run_id = "e2e-learn-" + uuid.uuid4().hex[:8]
    script = tmp_path / "work.sh"
    script.write_text("set -e\nid -u > /work/uid\nmkdir /work/d\ntest \"$(cat /work/uid)\" = 1000\n")
    done = learn("--run-file", str(script), "--container", "user=1000", "--container", "read_only=true",
                 "--container", 'tmpfs=["/work:mode=1777"]', "--out", str(tmp_path), "--name", "work",
                 run_id=run_id)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "proof passed" in out and "hardlab learn: warning" not in out, out
    assert {"mkdir", "mkdirat"} & gen.allowed(json.loads((tmp_path / "work.json").read_text()))
    workload = next(c for c in load(tmp_path / "work.toml").cases if c.id == "workload-1")
    for opts in (workload.container, workload.control.container):  # type: ignore[union-attr]
        assert opts["user"] == 1000 and opts["read_only"] is True and "/work" in opts["tmpfs"], opts
    recording = json.loads((tmp_path / "work.recording.json").read_text())
    assert recording["workloads"][0]["exit_code"] == 0 and recording["container"]["user"] == 1000

    bad = learn("--run", "true", "--container", "security_opt=seccomp=unconfined", run_id=run_id)
    assert bad.returncode == 2 and "learn sets the seccomp profile itself" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    assert leftovers(docker_client, run_id) == []
