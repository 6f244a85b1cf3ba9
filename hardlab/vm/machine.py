"""The lab VM: a disposable Debian VM with AppArmor, for what this host cannot run (`hardlab vm`).

The disk is built once from Debian's packages (hardlab/data/vm/build.sh; `hardlab.vm.disk`) of one suite
(bookworm by default, or trixie: `hardlab vm --suite trixie`) and cached, keyed by a hash of the recipe and
the suite; each suite keeps its own disk, data disk, state folder and reports (reports/vm, reports/vm-trixie).
Every boot is pristine (qemu's snapshot=on). The guest's PID 1 (hardlab/data/vm/guest-init) starts dockerd
and runs jobs the host drops into a 9p spool; the project itself is shared by 9p, so reports land in the
project.
qemu is tracked by a PID file and reaped on `down`, on failure and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from hardlab import config
from hardlab.system import processes
from hardlab.system.locks import file_lock
from hardlab.vm import VmError
from hardlab.vm import plan as vm_plan
from hardlab.vm.disk import Disks, in_use_by_qemu
from hardlab.vm.plan import REPO, QemuPlan

KVM_PROBE_TIMEOUT = 12.0  # a working KVM reaches the initrd in ~2 s; TCG is never probed


def boot_timeout() -> float:
    return float(config.env("HARDLAB_VM_BOOT_TIMEOUT") or 300)


def job_timeout() -> float:
    return float(config.env("HARDLAB_VM_JOB_TIMEOUT") or 3600)


class Vm:
    def __init__(self, repo: Path = REPO, out: TextIO = sys.stderr, suite: str | None = None) -> None:
        """`suite`: the Debian suite of the guest (`--suite`); None: HARDLAB_DEBIAN_SUITE or bookworm.
        Raises BadInput for a suite the lab VM does not know."""
        self.repo = repo
        self.out = out
        self.suite = vm_plan.debian_suite(suite)
        self.label = vm_plan.label(self.suite)
        self.cache = vm_plan.cache_root() / "vm"
        self.state = vm_plan.state_dir(repo, self.suite)
        self.spool = self.state / "spool"
        self.pidfile = self.state / "qemu.pid"
        self.qmp = self.state / "qmp.sock"
        self.reports = repo / vm_plan.guest_reports(self.suite)
        # A VM with its own state folder (tests, a second VM) keeps its console there, not over the user's.
        custom = bool(config.env("HARDLAB_VM_STATE"))
        self.console = (self.state if custom else self.reports) / "console.log"
        self.timings: dict[str, float] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self.disks = Disks(repo, self.suite, self.cache, out, self.say, self.phase)

    # -- progress -------------------------------------------------------------------------------------------
    def say(self, message: str) -> None:
        print(f"hardlab vm: {message}", file=self.out, flush=True)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - started
        self.say(f"{name}: {self.timings[name]:.1f}s")

    # -- accel ----------------------------------------------------------------------------------------------
    def accel(self, disk: Path) -> str:
        forced = config.env("HARDLAB_VM_ACCEL")
        if forced in {"kvm", "tcg"}:
            return forced
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "tcg"
        key = vm_plan.accel_cache_key(platform.release() + platform.version(), self.disks.keys().rootfs)
        cached = vm_plan.read_json(self.cache / f"accel-{key}.json")
        if cached.get("accel") in {"kvm", "tcg"}:
            return str(cached["accel"])
        with self.phase("kvm boot probe"):
            ok = self._kvm_probe(disk)
        accel = "kvm" if ok else "tcg"
        self.say("KVM boots the guest kernel: using it" if ok else "KVM did not boot the guest kernel: using TCG")
        (self.cache / f"accel-{key}.json").write_text(json.dumps({"accel": accel}))
        return accel

    def _kvm_probe(self, disk: Path) -> bool:
        with tempfile.TemporaryDirectory(prefix="hardlab-kvm-") as tmp:
            log = Path(tmp) / "console.log"
            argv = vm_plan.probe_plan(disk / "vmlinuz", disk / "initrd.img", log)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            try:
                deadline = time.monotonic() + KVM_PROBE_TIMEOUT
                while time.monotonic() < deadline and proc.poll() is None:
                    if log.is_file() and vm_plan.BOOT_MARKER in log.read_text(errors="replace"):
                        return True
                    time.sleep(0.2)
                return log.is_file() and vm_plan.BOOT_MARKER in log.read_text(errors="replace")
            finally:
                processes.stop_child(proc)

    # -- lifecycle ------------------------------------------------------------------------------------------
    def running_pid(self) -> int | None:
        """The qemu of this checkout, if alive. The PID file alone is not trusted: PIDs get reused."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if processes.is_ours(pid, str(self.qmp)) else None

    def ready(self) -> bool:
        return (self.spool / "ready").is_file()

    def up(self, timeout: float | None = None) -> bool:
        """Boot unless already up; True when this call booted it (so the caller owns stopping it).
        `timeout` defaults to HARDLAB_VM_BOOT_TIMEOUT."""
        self.state.mkdir(parents=True, exist_ok=True)
        with file_lock(self.state / ".lock"):
            running = (self.state / "suite").read_text().strip() if (self.state / "suite").is_file() else None
            if self.running_pid() and running not in {None, self.suite}:
                raise VmError(f"a {running} lab VM is up in {self.state}: `hardlab vm --suite {running} down` "
                              f"first, or give this one its own HARDLAB_VM_STATE")  # fmt: skip
            if self.running_pid() and self.ready():
                self.say(f"already up (pid {self.running_pid()})")
                return False
            if self.running_pid():  # half-booted leftover of an interrupted `up`
                self.kill()
            self.disks.ensure_tools()
            disk = self.disks.ensure_disk()
            pydeps = self.disks.ensure_pydeps(disk)
            self.disks.ensure_lab_tarballs()
            accel = self.accel(disk)
            self._boot(disk, pydeps, accel, boot_timeout() if timeout is None else timeout)
            return True

    def _boot(self, disk: Path, pydeps: Path, accel: str, timeout: float) -> None:
        shutil.rmtree(self.spool, ignore_errors=True)
        (self.spool / "jobs").mkdir(parents=True)
        self.reports.mkdir(parents=True, exist_ok=True)
        self.console.write_bytes(b"")  # this boot's console only
        self.qmp.unlink(missing_ok=True)
        shares = {"hardlab": self.repo, "spool": self.spool, "hostcache": vm_plan.cache_root(), "pydeps": pydeps}
        data = self.disks.ensure_data_disk()
        shared = data is not None and in_use_by_qemu(data)
        if shared:
            self.say("another lab VM holds the engine data disk: this one writes to a throw-away overlay")
        plan = QemuPlan(kernel=disk / "vmlinuz", initrd=disk / "initrd.img", disk=disk / "disk.qcow2",
                        console_log=self.console, qmp_socket=self.qmp, shares=shares, accel=accel,
                        data_disk=data, data_ephemeral=shared,
                        cpus=int(config.env("HARDLAB_VM_CPUS") or 2),
                        memory_mb=int(config.env("HARDLAB_VM_MEMORY_MB") or 3072))  # fmt: skip
        shown = self.console.relative_to(self.repo) if self.console.is_relative_to(self.repo) else self.console
        self.say(f"booting Debian {self.suite} ({accel}; console: {shown})")
        with open(self.state / "qemu.log", "wb") as qlog:
            self._proc = subprocess.Popen(plan.argv(), stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                          start_new_session=True)  # fmt: skip
        self.pidfile.write_text(f"{self._proc.pid}\n")
        (self.state / "accel").write_text(accel)
        (self.state / "suite").write_text(self.suite)
        try:
            with self.phase("boot to engine ready"):
                self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.ready():
                return
            if (self.spool / "engine-failed").is_file():
                raise VmError(f"dockerd did not start in the guest; see {self.spool / 'dockerd.log'}\n{self._tail()}")
            if self._proc is not None and self._proc.poll() is not None:
                qlog = (self.state / "qemu.log").read_text(errors="replace").strip()[-800:]
                code = self._proc.returncode
                raise VmError(f"qemu exited ({code}) before the guest was ready: {qlog}\n{self._tail()}")
            line = _last_line(self.console)
            if line and line != last:
                self.say(f"  guest: {line[:120]}")
                last = line
            time.sleep(0.5)
        raise VmError(f"the guest was not ready within {timeout:.0f}s (HARDLAB_VM_BOOT_TIMEOUT); killed it.\n"
                      f"{self._tail()}")  # fmt: skip

    def _tail(self, lines: int = 15) -> str:
        try:
            text = self.console.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no console log at {self.console})"
        return f"last console lines ({self.console}):\n  " + "\n  ".join(text)

    def down(self) -> bool:
        """Ask the guest to power off, then make sure: SIGTERM, SIGKILL. True when a VM was running."""
        pid = self.running_pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        if self.spool.is_dir():
            (self.spool / "poweroff").touch()
        if not processes.wait_gone(pid, 45, str(self.qmp)):  # the guest stops dockerd and syncs its data disk first
            self.kill()
        self.pidfile.unlink(missing_ok=True)
        self.qmp.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """Stop qemu now: SIGTERM, then SIGKILL (no clean guest shutdown)."""
        pid = self.running_pid()
        if pid is not None:
            processes.stop(pid, str(self.qmp), grace_s=5)
        if self._proc is not None:
            processes.stop_child(self._proc)
        self.pidfile.unlink(missing_ok=True)

    # -- jobs -----------------------------------------------------------------------------------------------
    def job(self, script: str, timeout: float | None = None, echo: TextIO | None = sys.stdout) -> int:
        """Run a bash script in the guest (cwd: the project), streaming its output; return its exit code.
        `timeout` defaults to HARDLAB_VM_JOB_TIMEOUT."""
        if not (self.running_pid() and self.ready()):
            raise VmError("the lab VM is not up: run `hardlab vm up` first")
        job_id = f"{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
        base = self.spool / "jobs" / job_id
        tmp = base.with_suffix(".tmp")
        tmp.write_text(script)
        tmp.rename(base.with_suffix(".sh"))  # the guest only picks up *.sh: it never sees half a script
        out, rc = base.with_suffix(".out"), base.with_suffix(".rc")
        offset = 0
        timeout = job_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            while True:
                done = rc.is_file()  # read the flag before the output: the guest writes the output first
                if out.is_file():
                    with open(out, "rb") as handle:
                        handle.seek(offset)
                        chunk = handle.read()
                    offset += len(chunk)
                    if chunk and echo is not None:
                        echo.write(chunk.decode(errors="replace"))
                        echo.flush()
                if done:
                    return int(rc.read_text().strip() or 1)
                if self.running_pid() is None:
                    raise VmError(f"the lab VM stopped while job {job_id} ran\n{self._tail()}")
                if time.monotonic() > deadline:
                    base.with_suffix(".cancel").touch()
                    raise VmError(f"job {job_id} ran over {timeout:.0f}s (HARDLAB_VM_JOB_TIMEOUT); cancelled it")
                time.sleep(0.3)
        except KeyboardInterrupt:
            base.with_suffix(".cancel").touch()
            raise

    def accel_in_use(self) -> str | None:
        """kvm or tcg for the running VM; None when none runs."""
        marker = self.state / "accel"
        return marker.read_text().strip() if self.running_pid() and marker.is_file() else None

    def status(self) -> dict[str, object]:
        keys = self.disks.keys()
        pid = self.running_pid()
        return {
            "suite": self.suite,
            "running": bool(pid),
            "pid": pid,
            "ready": bool(pid) and self.ready(),
            "accel": self.accel_in_use(),
            "disk": str(self.disks.disk_dir() / "disk.qcow2") if self.disks.built() else None,
            "disk_key": keys.disk,
            "console_log": str(self.console),
        }



def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - 512))
            lines = [ln for ln in handle.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""
