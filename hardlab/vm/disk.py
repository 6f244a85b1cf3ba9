"""The lab VM's build products, cached per Debian suite and keyed by a hash of the recipe: the host's tools
(qemu, mmdebstrap), the disk built from Debian's packages (hardlab/data/vm/build.sh), the guest's Python
deps, the engine data disk and the lab images' rootfs tarballs. A new build prunes this suite's older ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO

from hardlab import config
from hardlab.system import apt, processes
from hardlab.system.debian import mirror_url
from hardlab.system.locks import file_lock
from hardlab.vm import VmError
from hardlab.vm import plan as vm_plan
from hardlab.vm.plan import Keys

QEMU = "qemu-system-x86_64"


class Disks:
    """One suite's build products in the cache; `say` and `phase` are the VM's progress lines and timings."""

    def __init__(
        self, repo: Path, suite: str, cache: Path, out: TextIO, say: Callable[[str], None],
        phase: Callable[[str], AbstractContextManager[None]],
    ) -> None:  # fmt: skip
        self.repo = repo
        self.suite = suite
        self.cache = cache
        self.out = out
        self.say = say
        self.phase = phase

    def keys(self) -> Keys:
        return Keys.compute(deps=vm_plan.project_deps((self.repo / "pyproject.toml").read_text()), suite=self.suite)

    def disk_dir(self) -> Path:
        return self.cache / f"disk-{self.suite}-{self.keys().disk}"

    def _prune(self, pattern: str, keep: set[str]) -> None:
        """Drop this suite's older build products (a GB each), and the suite-less ones of older checkouts;
        another suite's stay."""
        for stale in self.cache.glob(pattern.format(suite=self.suite)):
            if stale.name not in keep and not in_use_by_qemu(stale):
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        for stale in self.cache.glob(pattern.format(suite="")):
            if vm_plan.LEGACY_NAME.match(stale.name) and not in_use_by_qemu(stale):
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)

    def built(self) -> bool:
        return (self.disk_dir() / "disk.qcow2").is_file()

    def ensure_tools(self) -> None:
        """qemu (and mmdebstrap) from Debian's packages when we are root on Debian; else say how."""
        missing = [pkg for cmd, pkg in ((QEMU, "qemu-system-x86"), ("qemu-img", "qemu-utils")) if not shutil.which(cmd)]
        if not (shutil.which("mmdebstrap") or shutil.which("debootstrap")) and not self.built():
            missing.append("mmdebstrap")
        if not missing:
            return
        if not apt.can_install():
            raise VmError(f"the lab VM needs {', '.join(missing)}: apt-get install --no-install-recommends "
                          + " ".join(missing))  # fmt: skip
        self.say(f"installing Debian's {' '.join(missing)}")
        try:
            apt.install(missing)
        except apt.AptError as exc:
            raise VmError(str(exc)) from None

    def ensure_disk(self) -> Path:
        keys = self.keys()
        disk = self.disk_dir()
        if (disk / "disk.qcow2").is_file():
            return disk
        reason = vm_plan.skip_reason(shutil.which(QEMU), mirror_error(suite=self.suite), False, os.geteuid() == 0)
        if reason:
            raise VmError(reason)
        with file_lock(self.cache / ".lock"):
            if (disk / "disk.qcow2").is_file():  # another `up` built it while we waited
                return disk
            rootfs = self.cache / f"rootfs-{self.suite}-{keys.rootfs}"
            if not (rootfs / ".hardlab-packages.txt").is_file():
                self.say(f"building the VM rootfs from Debian {self.suite}'s packages (once; cached in {rootfs})")
                with self.phase("rootfs build"):
                    self._script("rootfs", str(rootfs))
            partial = disk.with_name(disk.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            with self.phase("disk image"):
                self._script("disk", str(rootfs), str(partial))
            partial.rename(disk)
            self._prune("disk-{suite}*", {disk.name})
            logs = {f"{rootfs.name}.mmdebstrap.log", f"{rootfs.name}.debootstrap.log"}
            self._prune("rootfs-{suite}*", {rootfs.name, *logs})
        return disk

    def _script(self, *args: str) -> None:
        env = {**os.environ, "HARDLAB_DEBIAN_SUITE": self.suite}  # the suite is build.sh's input, not the host's
        done = subprocess.run(["bash", str(vm_plan.RECIPE / "build.sh"), *args], capture_output=True, text=True,
                              env=env)  # fmt: skip
        for line in done.stdout.splitlines():
            self.say(line)
        if done.returncode != 0:
            raise VmError(f"labs/vm/build.sh {args[0]} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")

    def ensure_pydeps(self, disk: Path) -> Path:
        """The pack's Python deps for the guest's own python3 (its version read from the disk's package
        manifest: 3.11 on bookworm, 3.13 on trixie), installed on the host (the guest is offline)."""
        deps = vm_plan.project_deps((self.repo / "pyproject.toml").read_text())
        manifest = disk / "packages.txt"
        python = vm_plan.guest_python(manifest.read_text() if manifest.is_file() else "")
        if python is None:
            raise VmError(f"{manifest} names no python3 package: cannot tell which Python the guest runs")
        target = self.cache / f"pydeps-py{python}-{self.keys().pydeps}"
        if (target / ".complete").is_file():
            return target
        with file_lock(self.cache / ".lock"), self.phase("python deps for the guest"):
            partial = target.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
                   str(partial), "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
                   "--abi", "cp" + python.replace(".", ""), "--platform", "manylinux2014_x86_64",
                   "--platform", "manylinux_2_17_x86_64",
                   *deps]  # fmt: skip
            done = subprocess.run(pip, capture_output=True, text=True)
            if done.returncode != 0:
                raise VmError(f"pip could not fetch the guest's Python deps: {done.stderr.strip()[-1200:]}")
            (partial / ".complete").write_text("\n".join(deps) + "\n")
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        return target

    def ensure_data_disk(self) -> Path | None:
        """A sparse ext4 image for the guest's /var/lib/docker: lab images imported once stay imported."""
        if config.env("HARDLAB_VM_DATA_DISK", "1") == "0":
            return None
        data = self.cache / f"docker-data-{self.suite}-{self.keys().disk}.img"
        if data.is_file():
            return data
        partial = data.with_suffix(".partial")
        done = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "hardlab-docker", str(partial), "16G"],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise VmError(f"mkfs.ext4 of the engine data disk failed: {done.stderr.strip()[-500:]}")
        partial.rename(data)
        self._prune("docker-data-{suite}*.img", {data.name})
        return data

    def ensure_lab_tarballs(self) -> None:
        """The lab images' rootfs tarballs, built here: the guest has no mirror, it only `docker import`s them."""
        from hardlab.engine import images
        for name in images.recipe_names():
            if images.tarball_path(name).is_file():
                continue
            with images.lock(), self.phase(f"lab image {name} rootfs"):
                try:
                    images.build_tarball(name, self.out)
                except images.ImageError as exc:
                    raise VmError(str(exc)) from None


def in_use_by_qemu(path: Path) -> bool:
    """Whether a running qemu has this image on its command line (qemu would refuse a second writer)."""
    return bool(processes.matching("qemu-system", f"file={path},"))



def mirror_error(timeout: float = 10, suite: str | None = None) -> str | None:
    """None when Debian's mirror answers for the suite we build; else why not (for a skip reason)."""
    suite = suite or vm_plan.debian_suite()
    url = f"{mirror_url().rstrip('/')}/dists/{suite}/Release"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as reply:
            return None if reply.status == 200 else f"{url}: HTTP {reply.status}"
    except OSError as exc:
        return f"{url}: {exc}"
