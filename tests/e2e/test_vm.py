"""The lab VM end to end: build (or reuse) the disk, boot it with AppArmor, run the AppArmor and privileged
packs inside it, bring the reports back marked as the guest's, and leave no qemu behind: after success,
after a boot timeout, and after Ctrl-C. Skips naming qemu or Debian's mirror when they cannot be had."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hardlab.vm import disk as vm_disk
from hardlab.vm import machine as vm
from hardlab.vm import plan as vm_plan

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / vm_plan.GUEST_REPORTS
# The VM run is the slow path (TCG: ~1 min boot, ~20 s per case on a loaded 2-core machine).
RUN_TIMEOUT = int(os.environ.get("HARDLAB_VM_E2E_TIMEOUT", "1500"))


def _skip_unless_vm_possible() -> None:
    machine = vm.Vm()
    qemu = shutil.which(vm_disk.QEMU)
    if qemu is None and os.geteuid() == 0 and shutil.which("apt-get"):
        qemu = "installable"  # `hardlab vm up` installs Debian's qemu itself
    built = machine.disks.built()
    reason = vm_plan.skip_reason(qemu, None if built else vm_disk.mirror_error(), built, os.geteuid() == 0)
    if reason:
        pytest.skip(f"lab VM unavailable: {reason}")


def _hardlab(args: list[str], env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardlab.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def _qemu_of(state: Path) -> list[int]:
    """PIDs of any qemu started for this state folder (its QMP socket path is on the command line)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmdline and str(state / "qmp.sock").encode() in cmdline:
                pids.append(int(proc.name))
    return pids


@pytest.fixture
def vm_env(tmp_path: Path) -> dict[str, str]:
    """A private state folder (PID file, spool) so the test never touches a VM the user has up."""
    return {**os.environ, "HARDLAB_VM_STATE": str(tmp_path / "vm-state")}


def test_vm_runs_the_apparmor_and_privileged_packs(vm_env: dict[str, str]) -> None:
    _skip_unless_vm_possible()
    state = Path(vm_env["HARDLAB_VM_STATE"])
    args = ["vm", "run", "scenarios/apparmor", "scenarios/privileged", "-rs"]
    done = _hardlab(args, vm_env, RUN_TIMEOUT)
    output = done.stdout + done.stderr
    print(output[-6000:])
    assert "boot to engine ready:" in output and "pack run:" in output, "each phase is measured and printed"
    assert not _qemu_of(state), "qemu must be gone after `vm run` stopped the VM it booted"

    cases = {}
    for case in ET.parse(REPORTS / "junit.xml").getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome = child.tag
        cases[case.get("name")] = outcome
    # The book's nmap exercise and the docker-nginx profile, for real, in the guest (each with its control).
    for name in ("nmap-denied", "nmap-profile-attaches-by-path", "raw-network-denied", "top-denied",
                 "root-write-denied", "sh-denied", "docker-default-applied",
                 "test_nmap_profile_loads_and_aa_status_lists_it", "test_broken_profile_is_not_loaded",
                 "mount-allowed", "one-device"):  # fmt: skip
        assert cases.get(name) == "passed", f"{name}: {cases.get(name)} in the guest\n{output[-4000:]}"

    origin = json.loads((REPORTS / "origin.json").read_text())
    assert origin["ran_on"] == "vm"
    assert origin["guest"]["apparmor_enabled"] == "Y" and "apparmor" in origin["guest"]["lsm"]
    assert origin["guest"]["kernel"] != os.uname().release, "the results must come from the guest kernel"
    assert "boot to engine ready" in origin["timings_s"]
    summary = json.loads((REPORTS / "summary.json").read_text())
    assert summary["ran_on"] == "vm"
    assert any("apparmor" in opt for opt in summary["host"]["engine"]["security_options"])
    console = (state / "console.log").read_text(errors="replace")
    assert "apparmor=1 security=apparmor" in console or "apparmor=Y" in console, console[-2000:]


def test_a_guest_that_is_not_ready_in_time_is_killed(vm_env: dict[str, str]) -> None:
    _skip_unless_vm_possible()
    state = Path(vm_env["HARDLAB_VM_STATE"])
    # The timeout covers the boot only: a fresh machine builds the disk first (cached for the other tests).
    done = _hardlab(["vm", "up"], {**vm_env, "HARDLAB_VM_BOOT_TIMEOUT": "4"}, RUN_TIMEOUT)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "was not ready within 4s" in done.stderr and "killed it" in done.stderr
    assert "last console lines" in done.stderr
    assert "boot to engine ready" not in done.stderr, "a boot that timed out must not be reported as ready"
    assert not _qemu_of(state) and not (state / "qemu.pid").exists()


def test_ctrl_c_during_boot_reaps_qemu(vm_env: dict[str, str]) -> None:
    _skip_unless_vm_possible()
    state = Path(vm_env["HARDLAB_VM_STATE"])
    proc = subprocess.Popen([sys.executable, "-m", "hardlab.cli", "vm", "up"], cwd=ROOT, env=vm_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + RUN_TIMEOUT  # a fresh machine builds the disk first
        while time.monotonic() < deadline and not _qemu_of(state) and proc.poll() is None:
            time.sleep(0.2)
        assert _qemu_of(state), f"qemu never started: {proc.stdout.read() if proc.poll() is not None else ''}"
        time.sleep(2)  # mid-boot
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "interrupted; stopped the VM" in out
    assert not _qemu_of(state), "qemu must not outlive Ctrl-C"


# -- the Debian 13 (trixie) guest: Docker 26.1, AppArmor, runc by default and crun registered ------------------
TRIXIE_REPORTS = ROOT / vm_plan.guest_reports("trixie")
TRIXIE_PACKS = ("scenarios/apparmor", "scenarios/privileged", "scenarios/seccomp", "scenarios/capabilities")


def _skip_unless_trixie_possible() -> None:
    machine = vm.Vm(suite="trixie")
    qemu = shutil.which(vm_disk.QEMU)
    if qemu is None and os.geteuid() == 0 and shutil.which("apt-get"):
        qemu = "installable"
    built = machine.disks.built()
    missing = None if built else vm_disk.mirror_error(suite="trixie")
    reason = vm_plan.skip_reason(qemu, missing, built, os.geteuid() == 0)
    if reason:
        pytest.skip(f"trixie lab VM unavailable (needs trixie's dists/ on the Debian mirror): {reason}")


def test_trixie_guest_runs_the_packs_with_docker_26_and_crun(vm_env: dict[str, str]) -> None:
    """`hardlab vm --suite trixie`: the same packs, green (0 failed) on Debian 13's engine, in its own reports."""
    _skip_unless_trixie_possible()
    state = Path(vm_env["HARDLAB_VM_STATE"])
    suite = ["vm", "--suite", "trixie"]
    try:
        up = _hardlab([*suite, "up"], vm_env, RUN_TIMEOUT)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "booting Debian trixie" in up.stderr
        # One case at a time: Docker 26.1 under TCG takes 10-25 s per container start, and four at once (the
        # default prefetch) ran past the engine client's 120 s read timeout on a loaded 2-core host.
        run_env = {**vm_env, "HARDLAB_PREFETCH": vm_env.get("HARDLAB_PREFETCH", "0")}
        done = _hardlab([*suite, "run", *TRIXIE_PACKS, "-rs"], run_env, RUN_TIMEOUT)
        output = done.stdout + done.stderr
        print(output[-6000:])
        crun = _hardlab([*suite, "exec", "sh", "-c", "docker run --rm --runtime crun --security-opt no-new-privileges "
                         "$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^hardlab/busybox:' | head -1) "
                         "cat /proc/self/attr/current"], vm_env, 600)  # fmt: skip
    finally:
        _hardlab([*suite, "down"], vm_env, 120)
    assert not _qemu_of(state), "qemu must be gone after `down`"
    assert done.returncode == 0, f"a pack failed in the trixie guest\n{output[-4000:]}"
    assert crun.returncode == 0 and "docker-default" in crun.stdout, crun.stdout + crun.stderr

    outcomes: dict[str, int] = {}
    for case in ET.parse(TRIXIE_REPORTS / "junit.xml").getroot().iter("testcase"):
        kind = next((c.tag for c in case if c.tag in {"failure", "error", "skipped"}), "passed")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert outcomes.get("failure", 0) == 0 and outcomes.get("error", 0) == 0, outcomes
    assert outcomes.get("passed", 0) >= 40, outcomes
    origin = json.loads((TRIXIE_REPORTS / "origin.json").read_text())
    guest = origin["guest"]
    assert origin["suite"] == "trixie" and "13" in (guest["os"] or ""), guest
    assert str(guest["engine_version"]).startswith("26.1"), guest
    assert "crun" in guest["runtimes"] and guest["default_runtime"] == "runc", guest
    assert guest["apparmor_enabled"] == "Y" and guest["python"].startswith("3.13"), guest
    suites = {s.get("name", "") for s in ET.parse(TRIXIE_REPORTS / "junit.xml").getroot().iter("testsuite")}
    assert suites and all(name.startswith("vm-trixie:") for name in suites), suites


# -- hardlab learn --lsm apparmor, in the guest: record in complain mode, generate, prove ------------------------
LEARNED_AA = "reports/vm/learned-apparmor"
AA_WORKLOAD = "nmap -n -sT -p 22,80 localhost"


def test_vm_learns_an_apparmor_profile_for_nmap_and_proves_it(vm_env: dict[str, str]) -> None:
    """The AppArmor twin of `hardlab learn` (issue 13): nmap recorded under a complain-mode profile in the
    guest, the enforce profile generated from its audit records, and the proof run at once: nmap scans under
    the learned profile, a write under /etc and a program nmap never ran are refused (each with its
    docker-default control)."""
    _skip_unless_vm_possible()
    state = Path(vm_env["HARDLAB_VM_STATE"])
    out = ROOT / LEARNED_AA
    shutil.rmtree(out, ignore_errors=True)
    # One case at a time and 4x step timeouts: the guest is TCG on a shared 2-core host.
    learn = ["vm", "exec", "env", "HARDLAB_TIMEOUT_SCALE=4", "HARDLAB_PREFETCH=0", "python3", "-m", "hardlab.cli",
             "learn", "--lsm", "apparmor", "--run", AA_WORKLOAD, "--out", LEARNED_AA, "--name", "nmap",
             "--timeout", "120"]  # fmt: skip
    started = time.monotonic()
    done = _hardlab(learn, vm_env, RUN_TIMEOUT)  # boots the VM, runs learn in it, stops it
    output = done.stdout + done.stderr
    print(output[-6000:], f"\nlearn in the VM (boot included): {time.monotonic() - started:.0f}s")
    assert not _qemu_of(state), "qemu must be gone after `vm exec` stopped the VM it booted"
    assert done.returncode == 0, output[-4000:]
    assert "method: complain-mode profile hardlab-learn-nmap" in output and "/dev/kmsg" in output, output
    assert "proof passed" in output, output[-4000:]

    profile = (out / "nmap.apparmor").read_text()
    assert "profile hardlab-nmap flags=(attach_disconnected,mediate_deleted) {" in profile
    rules = {ln.strip().rsplit(" ", 1)[0]: ln.strip().rsplit(" ", 1)[-1] for ln in profile.splitlines() if ln.strip()}
    assert rules.get("/usr/bin/nmap", "").endswith("ix,"), "the program the workload ran runs under the profile"
    assert rules.get("/usr/share/nmap/nmap-services") == "r,", profile
    assert "deny mount," in profile and "network inet stream," in profile, profile
    assert not (out / "pytest.ini").exists(), "the proof's own pytest.ini stays in a temporary folder"
    assert "\n  file,\n" not in profile and "\n  network,\n" not in profile

    summary = json.loads((out / "nmap.proof.json").read_text())
    cases = {r["case"]: r for r in summary["results"]}
    assert {c: r["outcome"] for c, r in cases.items()} == {
        "workload-1": "passed", "refuses-write-etc": "passed", "refuses-exec-id": "passed"}, summary["totals"]
    for case, code in (("refuses-write-etc", 2), ("refuses-exec-id", 126)):
        runs = {e["run"]: e for e in cases[case]["evidence"]}
        assert runs["case"]["exit_code"] == code and "Permission denied" in runs["case"]["stderr"], runs["case"]
        assert runs["control"]["exit_code"] == 0, f"{case}: the same action under docker-default must work"
    workload = {e["run"]: e for e in cases["workload-1"]["evidence"]}
    assert "80/tcp" in workload["case"]["stdout"] and workload["case"]["exit_code"] == 0, workload["case"]
