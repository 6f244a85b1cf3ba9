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
