"""The lab VM's plan as pure data: cache keys, the qemu command line, the guest job, where results came
from, and why the VM cannot come up (the skip reasons the e2e tests use). No qemu, no network."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hardlab.cli import vm as vm_cli
from hardlab.errors import BadInput
from hardlab.system.debian import mirror_url
from hardlab.vm import VmError
from hardlab.vm import disk as vm_disk
from hardlab.vm import machine as vm
from hardlab.vm import plan as vm_plan
from hardlab.vm.plan import Keys, QemuPlan


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    folder = tmp_path / "vm"
    shutil.copytree(vm_plan.RECIPE, folder)
    return folder


def test_keys_rebuild_only_the_stage_whose_inputs_changed(recipe: Path) -> None:
    before = Keys.compute(recipe, ["pytest==9.2.0"])
    (recipe / "guest-init").write_text((recipe / "guest-init").read_text() + "\n# changed\n")
    after_init = Keys.compute(recipe, ["pytest==9.2.0"])
    assert after_init.rootfs == before.rootfs, "a new PID 1 must not rebuild the rootfs"
    assert after_init.disk != before.disk
    (recipe / "packages.txt").write_text((recipe / "packages.txt").read_text() + "jq\n")
    after_pkgs = Keys.compute(recipe, ["pytest==9.2.0"])
    assert after_pkgs.rootfs != before.rootfs and after_pkgs.disk != after_init.disk
    assert Keys.compute(recipe, ["pytest==9.1.0"]).pydeps != after_pkgs.pydeps
    assert Keys.compute(recipe, ["b", "a"]).pydeps == Keys.compute(recipe, ["a", "b"]).pydeps


def test_keys_depend_on_the_debian_suite(recipe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bookworm = Keys.compute(recipe)
    monkeypatch.setenv("HARDLAB_DEBIAN_SUITE", "trixie")
    assert Keys.compute(recipe).rootfs != bookworm.rootfs


def test_packages_hold_what_the_labs_need() -> None:
    pkgs = {ln.strip() for ln in (vm_plan.RECIPE / "packages.txt").read_text().splitlines() if ln and ln[0] != "#"}
    for needed in ("linux-image-amd64", "apparmor", "apparmor-utils", "docker.io", "busybox-static", "python3",
                   "nmap", "procps", "iputils-ping", "libcap2-bin", "mount"):  # fmt: skip
        assert needed in pkgs, needed


def _plan(accel: str, tmp_path: Path) -> list[str]:
    plan = QemuPlan(kernel=tmp_path / "vmlinuz", initrd=tmp_path / "initrd.img", disk=tmp_path / "disk.qcow2",
                    console_log=tmp_path / "console.log", qmp_socket=tmp_path / "qmp.sock",
                    shares={"spool": tmp_path / "spool", "hardlab": tmp_path}, accel=accel)  # fmt: skip
    return plan.argv()


def test_qemu_boots_the_kernel_with_apparmor_on_a_pristine_disk(tmp_path: Path) -> None:
    argv = _plan("tcg", tmp_path)
    cmdline = argv[argv.index("-append") + 1]
    assert "apparmor=1" in cmdline.split() and "security=apparmor" in cmdline.split()
    assert "init=/sbin/hardlab-init" in cmdline and "console=ttyS0" in cmdline
    assert f"file={tmp_path / 'disk.qcow2'},if=virtio,format=qcow2,snapshot=on" in argv
    assert argv[argv.index("-serial") + 1] == f"file:{tmp_path / 'console.log'}"
    assert argv[argv.index("-nic") + 1] == "none", "the guest gets no network but its own bridges"
    assert "-no-reboot" in argv


def test_engine_data_disk_persists_unless_another_vm_holds_it(tmp_path: Path) -> None:
    base = dict(kernel=tmp_path / "k", initrd=tmp_path / "i", disk=tmp_path / "d.qcow2",
                console_log=tmp_path / "c", qmp_socket=tmp_path / "q")  # fmt: skip
    assert not any("docker.img" in a for a in QemuPlan(**base).argv())
    kept = QemuPlan(**base, data_disk=tmp_path / "docker.img").argv()
    assert f"file={tmp_path / 'docker.img'},if=virtio,format=raw,snapshot=off" in kept
    shared = QemuPlan(**base, data_disk=tmp_path / "docker.img", data_ephemeral=True).argv()
    assert f"file={tmp_path / 'docker.img'},if=virtio,format=raw,snapshot=on" in shared
    assert "/dev/vdb" in (vm_plan.RECIPE / "guest-init").read_text()


def test_accelerator_arguments(tmp_path: Path) -> None:
    tcg = _plan("tcg", tmp_path)
    assert tcg[tcg.index("-accel") + 1] == "tcg,thread=multi" and tcg[tcg.index("-cpu") + 1] == "max"
    kvm = _plan("kvm", tmp_path)
    assert kvm[kvm.index("-accel") + 1] == "kvm" and kvm[kvm.index("-cpu") + 1] == "host"


def test_shares_are_9p_with_their_mount_tags(tmp_path: Path) -> None:
    virtfs = [a for a in _plan("tcg", tmp_path) if a.startswith("local,")]
    assert virtfs == [
        f"local,path={tmp_path},mount_tag=hardlab,security_model=none,id=fs0",
        f"local,path={tmp_path / 'spool'},mount_tag=spool,security_model=none,id=fs1",
    ]
    init = (vm_plan.RECIPE / "guest-init").read_text()
    for tag in vm_plan.SHARES:
        assert tag in init, f"guest-init does not mount the {tag} share"


def test_kvm_probe_boots_only_the_kernel(tmp_path: Path) -> None:
    argv = vm_plan.probe_plan(tmp_path / "k", tmp_path / "i", tmp_path / "c.log")
    assert "kvm" in argv and "-drive" not in argv and "panic=-1" in argv[argv.index("-append") + 1]
    assert vm_plan.accel_cache_key("6.18 #1", "abc") != vm_plan.accel_cache_key("6.18 #2", "abc")


def test_guest_job_runs_pytest_with_reports_under_reports_vm() -> None:
    script = vm_plan.guest_job(["-m", "apparmor", "-k", "nmap or nginx"], "run1")
    assert "cd /hardlab" in script
    assert "export PYTHONPATH=/pydeps:/hardlab" in script and "export HARDLAB_ORIGIN=vm" in script
    assert "export HARDLAB_CACHE=/hostcache" in script
    last = script.strip().splitlines()[-1]
    assert last.startswith("python3 -m pytest -p no:cacheprovider")
    assert "--junitxml=/hardlab/reports/vm/junit.xml" in last
    assert "--hardlab-report=/hardlab/reports/vm/summary.json" in last
    assert last.endswith("scenarios -m apparmor -k 'nmap or nginx'"), "pytest args pass through, shell-quoted"
    assert vm_plan.guest_job([], "r").strip().endswith(" scenarios")
    assert vm_plan.guest_job(["-m", "apparmor"], "r").strip().endswith(" scenarios -m apparmor")
    assert vm_plan.guest_job(["scenarios/apparmor/nmap.toml::nmap-denied"], "r").strip().endswith(
        " scenarios/apparmor/nmap.toml::nmap-denied"
    )


def test_the_guest_facts_command_the_job_runs_exists(capsys: pytest.CaptureFixture[str]) -> None:
    from hardlab.cli import guest

    script = vm_plan.guest_job([], "r")
    assert "python3 -m hardlab.cli.guest facts > /hardlab/reports/vm/guest-facts.json" in script
    assert guest.main([]) == 2 and "usage: python3 -m hardlab.cli.guest facts" in capsys.readouterr().err


def test_guest_command_runs_one_command_with_the_suite_environment() -> None:
    script = vm_plan.guest_command(["aa-status", "--json"], "r2")
    assert script.strip().splitlines()[-1] == "aa-status --json"
    assert "export HARDLAB_VM_RUN=r2" in script and "cd /hardlab" in script


def test_junit_is_marked_with_where_it_ran() -> None:
    xml = '<testsuites><testsuite name="pytest" tests="2"><testcase name="a"/></testsuite></testsuites>'
    marked = vm_plan.mark_junit(xml, "vm")
    assert '<testsuite name="vm:pytest" tests="2">' in marked
    assert vm_plan.mark_junit(marked, "vm") == marked, "marking twice must not stack prefixes"
    assert '<testcase name="a"/>' in marked


def test_origin_says_guest_and_the_host_that_booted_it() -> None:
    record = vm_plan.origin({"kernel": "6.1.0-50-amd64", "apparmor_enabled": "Y"}, {"hostname": "ci-1"},
                            {"boot to engine ready": 43.71})  # fmt: skip
    assert record["ran_on"] == "vm"
    assert record["guest"]["apparmor_enabled"] == "Y" and record["vm_host"]["hostname"] == "ci-1"
    assert record["timings_s"] == {"boot to engine ready": 43.7}


def test_write_origin_marks_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDLAB_VM_STATE", str(tmp_path / "state"))
    machine = vm.Vm(repo=tmp_path)
    machine.reports.mkdir(parents=True)
    machine.state.mkdir(parents=True)
    (machine.state / "accel").write_text("tcg\n")
    (machine.reports / "guest-facts.json").write_text(json.dumps({"kernel": "6.1.0-50-amd64"}))
    (machine.reports / "junit.xml").write_text('<testsuite name="pytest"></testsuite>')
    (machine.reports / "summary.json").write_text(json.dumps({"run_id": "r1", "totals": {"passed": 3}}))
    machine.timings["pack run"] = 12.34
    vm_cli.write_origin(machine)
    summary = json.loads((machine.reports / "summary.json").read_text())
    assert summary["ran_on"] == "vm" and summary["totals"] == {"passed": 3}
    assert summary["origin"]["vm_host"]["accel"] == "tcg"
    origin = json.loads((machine.reports / "origin.json").read_text())
    assert origin["ran_on"] == "vm" and origin["guest"]["kernel"] == "6.1.0-50-amd64"
    assert origin["vm_host"]["accel"] == "tcg" and origin["timings_s"] == {"pack run": 12.3}
    assert 'name="vm:pytest"' in (machine.reports / "junit.xml").read_text()


@pytest.mark.parametrize(
    ("qemu", "mirror", "cached", "root", "expected"),
    [
        (None, None, True, True, "qemu-system-x86_64 is not installed"),
        ("/usr/bin/qemu", "http://deb/dists/bookworm/Release: timed out", False, True,
         "Debian's package mirror cannot be reached to build the lab VM (http://deb/dists/bookworm/Release"),
        ("/usr/bin/qemu", None, False, False, "building the lab VM's disk needs root"),
        ("/usr/bin/qemu", "down", True, False, None),  # a cached disk needs neither mirror nor root
        ("/usr/bin/qemu", None, False, True, None),
    ],
)  # fmt: skip
def test_skip_reasons_name_what_is_missing(qemu, mirror, cached, root, expected) -> None:
    reason = vm_plan.skip_reason(qemu, mirror, cached, root)
    assert reason == expected if expected is None else reason is not None and reason.startswith(expected)


def test_project_deps_are_what_the_guest_installs() -> None:
    text = '[project]\ndependencies = ["pytest==9.2.0", "tomli>=2.0; python_version < \'3.11\'", "docker==7.1.0"]'
    assert vm_plan.project_deps(text) == ["pytest==9.2.0", "docker==7.1.0"]
    assert "pytest==9.2.0" in vm_plan.project_deps((vm_plan.REPO / "pyproject.toml").read_text())


def test_stale_pid_file_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDLAB_VM_STATE", str(tmp_path / "state"))
    machine = vm.Vm(repo=tmp_path)
    machine.state.mkdir(parents=True)
    assert machine.running_pid() is None
    machine.pidfile.write_text(f"{os.getpid()}\n")  # alive, but not our qemu: a reused PID
    assert machine.running_pid() is None
    machine.pidfile.write_text("garbage")
    assert machine.running_pid() is None
    with pytest.raises(VmError, match="not up: run `hardlab vm up` first"):
        machine.job("true")
    assert machine.down() is False and not machine.pidfile.exists()


def test_mirror_comes_from_env_or_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDLAB_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert mirror_url() == "http://mirror.example/debian"
    monkeypatch.setenv("HARDLAB_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")  # discard port: refused at once
    error = vm_disk.mirror_error(timeout=2)
    assert error is not None and error.startswith("http://127.0.0.1:9/debian/dists/bookworm/Release: ")


def test_cli_usage_and_unknown_action(capsys: pytest.CaptureFixture[str]) -> None:
    assert vm_cli.main(["--help"]) == 0 and "hardlab vm up" in capsys.readouterr().out
    assert vm_cli.main(["frobnicate"]) == 2 and "usage" in capsys.readouterr().err


def test_format_timings() -> None:
    assert vm_plan.format_timings({"rootfs build": 64.04, "boot": 31.96}) == "rootfs build 64.0s  boot 32.0s"


def test_a_tcg_guest_runs_cases_one_at_a_time_with_stretched_timeouts() -> None:
    tcg = vm_plan.guest_job([], "r", accel="tcg")
    assert "export HARDLAB_TIMEOUT_SCALE=4" in tcg and "export HARDLAB_PREFETCH=1" in tcg
    for accel in ("kvm", None):
        assert "HARDLAB_TIMEOUT_SCALE" not in vm_plan.guest_job([], "r", accel=accel)
# -- suites ------------------------------------------------------------------------------------------------------
def test_the_suite_comes_from_the_option_then_the_setting_and_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDLAB_DEBIAN_SUITE", raising=False)
    assert vm_plan.debian_suite() == "bookworm"
    monkeypatch.setenv("HARDLAB_DEBIAN_SUITE", "trixie")
    assert vm_plan.debian_suite() == "trixie" and vm_plan.debian_suite("bookworm") == "bookworm"
    with pytest.raises(BadInput, match=r"--suite: .*bookworm, trixie, not 'sid'"):
        vm_plan.debian_suite("sid")
    monkeypatch.setenv("HARDLAB_DEBIAN_SUITE", "bullseye")
    with pytest.raises(BadInput, match="HARDLAB_DEBIAN_SUITE"):
        vm_plan.debian_suite()


def test_each_suite_has_its_own_state_and_reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HARDLAB_VM_STATE", raising=False)
    assert vm_plan.state_dir(tmp_path) == tmp_path / ".hardlab" / "vm", "the default suite keeps main's folder"
    assert vm_plan.state_dir(tmp_path, "trixie") == tmp_path / ".hardlab" / "vm-trixie"
    assert vm_plan.guest_reports() == vm_plan.GUEST_REPORTS == "reports/vm"
    assert vm_plan.guest_reports("trixie") == "reports/vm-trixie"
    script = vm_plan.guest_job(["scenarios/apparmor"], "r", "trixie")
    assert "--junitxml=/hardlab/reports/vm-trixie/junit.xml" in script
    assert "junit_suite_name=hardlab-vm-trixie" in script and "HARDLAB_REPORTS=/hardlab/reports/vm-trixie" in script
    assert "HARDLAB_REPORTS=/hardlab/reports/vm-trixie" in vm_plan.guest_command(["true"], "r", "trixie")
    assert vm_plan.origin({}, {}, {}, "trixie")["suite"] == "trixie"


def test_a_suites_own_package_list_keys_only_that_suite(recipe: Path) -> None:
    assert vm_plan.suite_inputs(vm_plan.ROOTFS_INPUTS, "trixie", recipe)[-1] == "packages-trixie.txt"
    assert vm_plan.suite_inputs(vm_plan.ROOTFS_INPUTS, "bookworm", recipe) == vm_plan.ROOTFS_INPUTS
    bookworm, trixie = Keys.compute(recipe, suite="bookworm"), Keys.compute(recipe, suite="trixie")
    (recipe / "packages-trixie.txt").write_text("crun\njq\n")
    assert Keys.compute(recipe, suite="trixie").rootfs != trixie.rootfs
    assert Keys.compute(recipe, suite="bookworm") == bookworm


def test_the_trixie_guest_gets_crun_registered_beside_runc() -> None:
    extra = (vm_plan.RECIPE / "packages-trixie.txt").read_text().split()
    assert "crun" in extra and "docker-cli" in extra, "trixie's docker.io ships dockerd only"
    build = (vm_plan.RECIPE / "build.sh").read_text()
    assert '"runtimes": {"crun": {"path": "/usr/bin/crun"}}' in build and "default-runtime" not in build


def test_the_guests_python_is_read_from_its_package_manifest() -> None:
    assert vm_plan.guest_python("perl 5.40.1-6\npython3 3.13.5-1\npython3-minimal 3.13.5-1\n") == "3.13"
    assert vm_plan.guest_python("python3 3.11.2-1+b1\n") == "3.11"
    assert vm_plan.guest_python("python3-minimal 3.11.2-1\n") is None


def test_a_suite_the_vm_does_not_know_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert vm_cli.main(["--suite", "sid", "up"]) == 2
    assert "not 'sid'" in capsys.readouterr().err
    assert vm_cli.main(["--suite"]) == 2


def test_the_hosts_prefetch_setting_reaches_the_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDLAB_PREFETCH", "0")
    assert "export HARDLAB_PREFETCH=0" in vm_plan.guest_job([], "r", "trixie")
    monkeypatch.delenv("HARDLAB_PREFETCH")
    assert "HARDLAB_PREFETCH" not in vm_plan.guest_job([], "r")
