"""The engine matrix on real engines: Debian 13's docker.io 26.1.5 started here, seccomp on it, the i386 ABI.

The 26.1 engine is fetched from Debian's trixie suite (a private apt state, once; cached) and started as
an ephemeral dockerd. Where it cannot be fetched or started, these tests skip naming why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardlab.core import facts
from hardlab.engine import behaviour, dockerd, images, matrix

from .conftest import ROOT, leftovers

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def engine_26() -> Iterator[dockerd.Engine]:
    if os.geteuid() != 0:
        pytest.skip("starting Debian 13's dockerd 26.1.5 as a second engine needs root")
    try:
        prepared = matrix.prepare(matrix.by_name("26.1-runc"))
    except matrix.MatrixError as exc:
        pytest.skip(f"Debian 13's docker.io 26.1.5 is not available here: {exc}")
    with dockerd.running("e2e-26.1", prepared.daemon, binary=prepared.binary, path=prepared.path) as engine:
        client = engine.client()
        images.ensure_all(client)  # cached tarballs: seconds
        client.close()
        yield engine


def probe(client: Any, argv: list[str], **options: Any) -> dict[tuple[str, str], str]:
    code, output = behaviour.run(client, "lab:tools", ["/bin/sh", "-c", "; ".join(argv)], **options)
    assert code == 0, output
    return behaviour.probe_answers(output)


def test_the_26_1_engine_reports_its_own_facts(engine_26: dockerd.Engine) -> None:
    env = dict(os.environ, DOCKER_HOST=engine_26.url)
    done = subprocess.run(
        [sys.executable, "-m", "hardlab.cli", "doctor", "--json"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    measured = facts.EngineFacts.from_dict(json.loads(done.stdout)["facts"])
    assert facts.version_tuple(measured.engine_version)[:2] == (26, 1)
    assert measured.runtime == "runc" and measured.runtime_version
    # Its profile is moby's >= 23.0 one, by behaviour: AF_VSOCK refused, process_vm_* allowed.
    assert measured.profile.af_vsock_refused is True
    assert measured.profile.process_vm_allowed is True
    assert measured.profile.name_to_handle_at_allowed is True
    assert measured.abis["x86_64"] is True
    if measured.privileged.starts:  # the engine's own bounding set: every capability its root holds
        assert measured.privileged.names and "CAP_SYS_ADMIN" in measured.privileged.names


def test_a_seccomp_scenario_runs_on_the_26_1_engine(engine_26: dockerd.Engine, run_hardlab: Any) -> None:
    env = {"DOCKER_HOST": engine_26.url}
    out = run_hardlab(
        "scenarios/seccomp/custom-profiles.toml", "scenarios/seccomp/blocked-syscalls.toml", "-k",
        "deny-chown or mount or bpf or unshare", env=env,
    )  # fmt: skip
    assert out.code == 0, out.output[-3000:]
    outcomes = {r["nodeid"].split("::")[-1]: r["outcome"] for r in out.summary["results"]}
    assert outcomes["deny-chown"] == "passed"
    assert outcomes["mount"] == "passed" and outcomes["bpf"] == "passed" and outcomes["unshare"] == "passed"
    assert out.summary["host"]["engine"]["server_version"].startswith("26.1")
    client = engine_26.client()
    assert leftovers(client, out.run_id) == []
    client.close()


def test_the_seccomp_and_capabilities_packs_hold_on_26_1_judged_by_its_facts(
    engine_26: dockerd.Engine, run_hardlab: Any
) -> None:
    """The whole seccomp and capabilities packs: 0 failures on 26.1, where the newer profile allows
    process_vm_* and name_to_handle_at (they must reach the kernel there, and the verdict says why)."""
    out = run_hardlab("scenarios/seccomp", "scenarios/capabilities", "-n", "2", env={"DOCKER_HOST": engine_26.url},
                      timeout=900)  # fmt: skip
    assert out.code == 0, out.output[-3000:]
    assert out.summary["totals"]["failed"] == 0 and out.summary["totals"]["error"] == 0
    pvm = out.result("process_vm_readv")
    assert pvm["outcome"] == "passed"
    decided = [line for row in pvm["evidence"] for line in row.get("depends_on", [])]
    assert any("meets >=23.0" in line and "moby#42083" in line for line in decided), decided
    assert out.result("stime-i386")["outcome"] == "passed"  # observable through the 32-bit ABI only


def test_a_weakened_engine_fails_the_seccomp_pack(run_hardlab: Any, tmp_path: Path) -> None:
    """Negative control of the whole approach: with an allow-all default profile, >= 10 cases fail."""
    if os.geteuid() != 0:
        pytest.skip("starting a second dockerd needs root")
    try:
        prepared = matrix.prepare(matrix.by_name("26.1-runc"))
    except matrix.MatrixError as exc:
        pytest.skip(f"Debian 13's docker.io 26.1.5 is not available here: {exc}")
    weak = {**prepared.daemon, "seccomp-profile": str(dockerd.seccomp_allow_all(tmp_path))}
    with dockerd.running("e2e-26.1-weak", weak, binary=prepared.binary, path=prepared.path) as engine:
        client = engine.client()
        images.ensure_all(client)
        client.close()
        out = run_hardlab("scenarios/seccomp", "-n", "2", env={"DOCKER_HOST": engine.url}, timeout=900)
    assert out.code == 1
    failed = [r["nodeid"] for r in out.summary["results"] if r["outcome"] == "failed"]
    assert len(failed) >= 10, failed
    assert any(n.endswith("::mount") for n in failed) and any(n.endswith("::mount-i386") for n in failed)


@pytest.mark.parametrize("where", ["main", "26.1"])
def test_i386_syscalls_reach_the_kernel_and_meet_the_profile(
    where: str, docker_client: Any, engine_26: dockerd.Engine
) -> None:
    client = docker_client if where == "main" else engine_26.client()
    images.ensure(client, "lab:tools")
    # umount-seccomp: a missing path, which the kernel refuses (ENOENT) before checking CAP_SYS_ADMIN.
    calls = [
        "hardlab-probe --abi i386 getpid", "hardlab-probe --abi i386 stime", "hardlab-probe --abi i386 umount-seccomp",
    ]
    unconfined = probe(client, calls, security_opt=["seccomp=unconfined"])
    if unconfined.get(("getpid", "i386")) != "OK":
        pytest.skip(f"this kernel does not run i386 syscalls (no IA32 emulation): getpid gave {unconfined}")
    # Control: unconfined, stime(NULL) and umount(missing path) reach the kernel, which rejects the arguments.
    assert unconfined[("stime", "i386")] == "EFAULT"
    assert unconfined[("umount-seccomp", "i386")] == "ENOENT"
    # The default profile answers them before the kernel does: x86_64 has neither, i386 makes them observable.
    confined = probe(client, [*calls, "hardlab-probe stime"])
    assert confined[("getpid", "i386")] == "OK"
    assert confined[("stime", "i386")] == "EPERM" and confined[("umount-seccomp", "i386")] == "EPERM"
    assert confined[("stime", "x86_64")] == "ENOSYS"


@pytest.mark.parametrize("where", ["main", "26.1"])
def test_blocking_chown_by_name_leaves_chown32_open_on_i386(
    where: str, docker_client: Any, engine_26: dockerd.Engine
) -> None:
    client = docker_client if where == "main" else engine_26.client()
    images.ensure(client, "lab:tools")
    calls = ["hardlab-probe chown", "hardlab-probe --abi i386 chown", "hardlab-probe --abi i386 chown32"]
    profile = (DATA / "no-chown-archmap.json").read_text()
    control = probe(client, calls)
    if control.get(("chown32", "i386")) in (None, "ENOSYS"):
        pytest.skip(f"this kernel does not run i386 syscalls (no IA32 emulation): {control}")
    assert control[("chown", "x86_64")] == "OK" and control[("chown32", "i386")] == "OK"
    blocked = probe(client, calls, security_opt=[f"seccomp={profile}"])
    assert blocked[("chown", "x86_64")] == "EPERM"
    assert blocked[("chown", "i386")] == "EPERM"  # libseccomp maps the name to i386's 16-bit chown (182)
    assert blocked[("chown32", "i386")] == "OK"  # the bypass: glibc's i386 chown is chown32 (212), not named


def test_crun_on_26_1_runs_or_names_why(docker_client: Any) -> None:
    if os.geteuid() != 0:
        pytest.skip("starting a second engine needs root")
    try:
        prepared = matrix.prepare(matrix.by_name("26.1-crun"))
    except matrix.MatrixError as exc:
        pytest.skip(f"26.1-crun cannot be prepared here: {exc}")
    engine, lock = matrix.start(prepared)
    try:
        why = matrix.smoke(engine)
    finally:
        dockerd.stop(engine, lock)
    crun = subprocess.run(["crun", "--version"], capture_output=True, text=True).stdout
    if facts.version_tuple(facts.runtime_version(crun)) < (1, 14):
        assert why is not None and "containers/crun#1485" in why, why
    else:
        assert why is None, why
