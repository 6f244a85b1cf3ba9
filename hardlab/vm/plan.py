"""The lab VM's plan, as pure data: cache keys, paths, the qemu command line, the guest job, skip reasons.

Nothing here starts a process or touches the network, so every decision the VM makes is unit-testable in ms.
`hardlab.vm` carries the plan out.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hardlab import config
from hardlab.errors import BadInput

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = config.project_root()
RECIPE = config.DATA / "vm"
# The files each cached stage is built from: change one, get a new key, get a rebuild of that stage only.
ROOTFS_INPUTS = ("build.sh", "packages.txt")
DISK_INPUTS = ("build.sh", "packages.txt", "guest-init")
# qemu's -append: the Debian kernel has AppArmor built in but only turns it on when asked.
CMDLINE = "root=/dev/vda rw console=ttyS0 apparmor=1 security=apparmor init=/sbin/hardlab-init panic=1 loglevel=4"
# 9p tags the guest's PID 1 mounts (labs/vm/guest-init); the project share is where reports come back.
SHARES = ("hardlab", "spool", "hostcache", "pydeps")
GUEST_REPO = "/hardlab"
GUEST_REPORTS = "reports/vm"  # the default suite's; another suite's results go to reports/vm-SUITE
DEFAULT_SUITE = "bookworm"
# Settings a guest job inherits from the host's environment.
PASSED_TO_GUEST = ("HARDLAB_PREFETCH", "HARDLAB_TIMEOUT_SCALE")
# Build products named before suites had names of their own (disk-HASH): stale once a suite's is built.
LEGACY_NAME = re.compile(r"^(disk|rootfs|docker-data)-[0-9a-f]{12}(\.partial|\.img|\.\w+\.log)?$")
# The Debian suites the lab VM has been built and booted with (README): another name is refused up front,
# not after a ten-minute build. Each may add packages-SUITE.txt to the common packages.txt.
SUITES = ("bookworm", "trixie")
BOOT_MARKER = "Run /init as init process"  # printed once the kernel hands over to the initrd: KVM works


def cache_root() -> Path:
    return config.cache_dir()


def state_dir(repo: Path = REPO, suite: str = DEFAULT_SUITE) -> Path:
    """Per-checkout, per-suite runtime state (PID file, QMP socket, job spool): two checkouts or two suites
    get two VMs. HARDLAB_VM_STATE names one folder for whichever suite boots there (machine.py checks)."""
    return Path(config.env("HARDLAB_VM_STATE") or repo / ".hardlab" / label(suite))


def debian_suite(chosen: str | None = None) -> str:
    """`hardlab vm --suite SUITE`, else HARDLAB_DEBIAN_SUITE, else bookworm; one of SUITES."""
    suite = chosen or config.env("HARDLAB_DEBIAN_SUITE") or DEFAULT_SUITE
    if suite not in SUITES:
        where = "--suite" if chosen else "HARDLAB_DEBIAN_SUITE"
        raise BadInput(f"{where}: the lab VM knows the Debian suites {', '.join(SUITES)}, not {suite!r}")
    return suite


def label(suite: str) -> str:
    """What names this suite's VM in paths and reports: `vm` for the default suite, `vm-trixie` otherwise."""
    return "vm" if suite == DEFAULT_SUITE else f"vm-{suite}"


def guest_reports(suite: str = DEFAULT_SUITE) -> str:
    """Where a suite's guest writes its reports, relative to the project: reports/vm, reports/vm-trixie."""
    return f"reports/{label(suite)}"


def suite_inputs(names: tuple[str, ...], suite: str, recipe: Path = RECIPE) -> tuple[str, ...]:
    """A stage's input files plus the suite's own package list, when it has one."""
    extra = f"packages-{suite}.txt"
    return (*names, extra) if "packages.txt" in names and (recipe / extra).is_file() else names


def guest_python(manifest: str) -> str | None:
    """The guest's Python (`3.13`) from the disk's package manifest (`python3 3.13.5-1` lines), or None."""
    for line in manifest.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "python3":
            match = re.match(r"(?:\d+:)?(\d+\.\d+)", fields[1])
            if match:
                return match.group(1)
    return None


def files_hash(folder: Path, names: tuple[str, ...], extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Keys:
    """Cache keys of the three build products; each names a folder under the VM cache."""

    rootfs: str
    disk: str
    pydeps: str

    @classmethod
    def compute(cls, recipe: Path = RECIPE, deps: list[str] | None = None, suite: str | None = None) -> Keys:
        suite = suite or debian_suite()
        return cls(
            rootfs=files_hash(recipe, suite_inputs(ROOTFS_INPUTS, suite, recipe), suite),
            disk=files_hash(recipe, suite_inputs(DISK_INPUTS, suite, recipe), suite),
            pydeps=hashlib.sha256("\n".join(sorted(deps or [])).encode()).hexdigest()[:12],
        )


def project_deps(pyproject_text: str) -> list[str]:
    """The run-time requirements the guest needs to run the suite (markers for older Pythons dropped)."""
    deps = tomllib.loads(pyproject_text).get("project", {}).get("dependencies", [])
    return [d for d in deps if "python_version <" not in d]


@dataclass
class QemuPlan:
    kernel: Path
    initrd: Path
    disk: Path
    console_log: Path
    qmp_socket: Path
    shares: dict[str, Path] = field(default_factory=dict)
    data_disk: Path | None = None  # the engine's /var/lib/docker, kept between boots
    data_ephemeral: bool = False  # another VM holds the data disk: see it, but write to a temp overlay
    accel: str = "tcg"
    cpus: int = 2
    memory_mb: int = 3072
    cmdline: str = CMDLINE
    name: str = "hardlab-vm"

    def argv(self, qemu: str = "qemu-system-x86_64") -> list[str]:
        args = [qemu, "-name", self.name, "-machine", "q35", *accel_args(self.accel)]
        args += ["-smp", str(self.cpus), "-m", str(self.memory_mb)]
        args += ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.cmdline]
        # snapshot=on: the guest's writes go to a temp file qemu drops at exit, so every boot is pristine.
        args += ["-drive", f"file={self.disk},if=virtio,format=qcow2,snapshot=on"]
        if self.data_disk is not None:
            snapshot = "on" if self.data_ephemeral else "off"
            args += ["-drive", f"file={self.data_disk},if=virtio,format=raw,snapshot={snapshot}"]
        for index, (tag, path) in enumerate(sorted(self.shares.items())):
            args += ["-virtfs", f"local,path={path},mount_tag={tag},security_model=none,id=fs{index}"]
        args += ["-nic", "none", "-display", "none", "-no-reboot", "-serial", f"file:{self.console_log}"]
        args += ["-qmp", f"unix:{self.qmp_socket},server=on,wait=off", "-monitor", "none"]
        return args


def accel_args(accel: str) -> list[str]:
    """KVM when the probe booted a kernel with it; otherwise multi-threaded TCG with every CPU feature."""
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def probe_plan(kernel: Path, initrd: Path, console_log: Path) -> list[str]:
    """A KVM boot probe: the kernel alone, no disk; success is reaching the initrd's /init."""
    return [
        "qemu-system-x86_64", "-machine", "q35", "-accel", "kvm", "-cpu", "host", "-m", "512",
        "-kernel", str(kernel), "-initrd", str(initrd), "-append", "console=ttyS0 panic=-1",
        "-nic", "none", "-display", "none", "-no-reboot", "-serial", f"file:{console_log}", "-monitor", "none",
    ]  # fmt: skip


def accel_cache_key(host_kernel: str, kernel_key: str) -> str:
    """The probe's answer depends on the host's hypervisor and on the guest kernel."""
    return hashlib.sha256(f"{host_kernel}\0{kernel_key}".encode()).hexdigest()[:12]


def guest_env(run_id: str, env: dict[str, str] | None = None, reports: str = GUEST_REPORTS) -> dict[str, str]:
    """What every guest job exports: the Python deps and the project on the path, the host's image cache."""
    return {
        "PYTHONPATH": f"/pydeps:{GUEST_REPO}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HARDLAB_CACHE": "/hostcache",
        "HARDLAB_ORIGIN": "vm",
        "HARDLAB_REPORTS": f"{GUEST_REPO}/{reports}",
        "HARDLAB_VM_RUN": run_id,
        # How many cases run at once is the host user's to choose: a TCG guest on a loaded host may need 1.
        **{key: value for key in PASSED_TO_GUEST if (value := config.env(key))},
        **(env or {}),
    }


# Under TCG the guest's CPU is emulated, several times slower than the host's: every step gets 4x its
# timeout (a hang is still caught) and cases run one at a time, so parallel starts do not starve each other.
# A value the host user set (PASSED_TO_GUEST) wins.
TCG_ENV = {"HARDLAB_TIMEOUT_SCALE": "4", "HARDLAB_PREFETCH": "1"}


def pace(accel: str | None) -> dict[str, str]:
    """The settings a job exports for the VM's accelerator (TCG_ENV under tcg)."""
    return dict(TCG_ENV) if accel == "tcg" else {}


def _script(run_id: str, command: list[str], before: list[str] | None = None, reports: str = GUEST_REPORTS,
            accel: str | None = None) -> str:  # fmt: skip
    lines = ["set -u", f"cd {GUEST_REPO}"]
    env = {**pace(accel), **guest_env(run_id, reports=reports)}
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    lines += before or []
    lines.append(" ".join(shlex.quote(a) for a in command))
    return "\n".join(lines) + "\n"


def guest_job(pytest_args: list[str], run_id: str, suite: str = DEFAULT_SUITE, accel: str | None = None) -> str:
    """The bash script the guest runs for `hardlab vm run`: the pack, its reports under reports/vm (the default
    suite's guest) or reports/vm-SUITE, its junit suite named after the VM; paced for `accel` (pace())."""
    relative = guest_reports(suite)
    reports = f"{GUEST_REPO}/{relative}"
    # `hardlab vm run -m apparmor` means the scenario pack, not the project's own tests: without a path, add one.
    args = list(pytest_args) if _names_a_path(pytest_args) else ["scenarios", *pytest_args]
    pytest = [
        "python3", "-m", "pytest", "-p", "no:cacheprovider", "-o", f"junit_suite_name=hardlab-{label(suite)}",
        f"--junitxml={reports}/junit.xml", f"--alluredir={reports}/allure-results",
        f"--hardlab-report={reports}/summary.json", *args,
    ]  # fmt: skip
    before = [f"mkdir -p {reports}", f"python3 -m hardlab.cli.guest facts > {reports}/guest-facts.json || true"]
    return _script(run_id, pytest, before, relative, accel)


def _names_a_path(args: list[str], repo: Path = REPO) -> bool:
    return any(not a.startswith("-") and (repo / a.split("::")[0]).exists() for a in args)


def guest_command(argv: list[str], run_id: str, suite: str = DEFAULT_SUITE) -> str:
    """`hardlab vm exec CMD...`: one command in the guest, in the project, with the pack's environment."""
    return _script(run_id, argv, reports=guest_reports(suite))


def origin(guest: dict[str, object], host: dict[str, object], timings: dict[str, float],
           suite: str = DEFAULT_SUITE) -> dict[str, object]:  # fmt: skip
    """What `reports/vm/origin.json` says: these results came from the guest (of that Debian suite), booted
    on that host."""
    return {
        "ran_on": "vm",
        "suite": suite,
        "guest": guest,
        "vm_host": host,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


def mark_summary(summary: dict[str, object], record: dict[str, object]) -> dict[str, object]:
    """hardlab's run summary, stamped with where it ran (its `host` block is the guest's own probe)."""
    return {**summary, "ran_on": record["ran_on"], "origin": record}


def mark_junit(xml_text: str, where: str) -> str:
    """Prefix every testsuite name with where it ran, so a merged report never mixes host and guest."""

    def rename(match: re.Match[str]) -> str:
        name = match.group(2)
        return match.group(0) if name.startswith(f"{where}:") else f'{match.group(1)}{where}:{name}"'

    return re.sub(r'(<testsuite\b[^>]*?\bname=")([^"]*)"', rename, xml_text)


def skip_reason(qemu: str | None, mirror_error: str | None, cached_disk: bool, is_root: bool) -> str | None:
    """Why the VM cannot come up here, or None. The e2e tests skip with exactly this text."""
    if qemu is None:
        return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 qemu-utils)"
    if cached_disk:
        return None
    if not is_root:
        return "building the lab VM's disk needs root (debootstrap/mmdebstrap make a rootfs owned by root)"
    if mirror_error:
        return f"Debian's package mirror cannot be reached to build the lab VM ({mirror_error})"
    return None


def format_timings(timings: dict[str, float]) -> str:
    return "  ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())


def read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
