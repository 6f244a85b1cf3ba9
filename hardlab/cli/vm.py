"""`hardlab vm up | run | exec | doctor | down | status`: the lab VM (hardlab.vm.machine) from the shell.

SIGTERM (CI cancelling a job) takes the same path as Ctrl-C, so qemu is reaped either way.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import sys
import uuid

from hardlab.cli.args import new_parser
from hardlab.errors import BadInput
from hardlab.outcomes import Exit, run_exit
from hardlab.vm import VmError
from hardlab.vm import plan as vm_plan
from hardlab.vm.machine import Vm

USAGE = """hardlab vm up | run [PYTEST ARGS...] | exec CMD... | doctor | down | status [--json]
       hardlab vm --suite SUITE ACTION ...
  --suite the guest's Debian suite: bookworm (default; Docker 20.10, runc) or trixie (Docker 26.1, runc
          default, crun registered as `--runtime crun`). Each suite has its own cached disk, its own VM and
          its own reports (reports/vm, reports/vm-trixie). Default: HARDLAB_DEBIAN_SUITE, else bookworm.
  up      build (once, cached) and boot the lab VM; wait until its Docker Engine answers
  run     run the scenario suite inside the VM (default: scenarios/); reports go to reports/vm/.
          Boots the VM first (and stops it after) unless it is already up.
  exec    run one command in the VM (in the project folder), e.g. `hardlab vm exec aa-status`
  doctor  `hardlab doctor` inside the VM: AppArmor enabled, privileged containers possible
  down    stop the VM; nothing is left running
  status  is it running, which accelerator, where the cached disk is"""


def run_pack(vm: Vm, pytest_args: list[str]) -> int:
    """`hardlab vm run`: the suite in the guest (booting it first unless up), then origin.json beside the reports."""
    started_here = False
    run_id = uuid.uuid4().hex[:8]
    try:
        started_here = vm.up()
        with vm.phase("pack run"):
            code = vm.job(vm_plan.guest_job(pytest_args, run_id, vm.suite, vm.accel_in_use()))
    finally:
        if started_here:
            vm.down()
    write_origin(vm)
    shown = vm.reports.relative_to(vm.repo) if vm.reports.is_relative_to(vm.repo) else vm.reports
    vm.say(f"reports in {shown}/ (ran in the Debian {vm.suite} VM); {vm_plan.format_timings(vm.timings)}")
    results = vm_plan.read_json(vm.reports / "summary.json").get("results")
    return int(run_exit(code, results if isinstance(results, list) else []))


def exec_command(vm: Vm, argv: list[str]) -> int:
    """`hardlab vm exec`: one command in the guest, booting it first (and stopping it after) unless up."""
    started_here = False
    try:
        started_here = vm.up()
        return vm.job(vm_plan.guest_command(argv, uuid.uuid4().hex[:8], vm.suite))
    finally:
        if started_here:
            vm.down()


def write_origin(vm: Vm) -> None:
    """reports/vm/origin.json (where these results came from); summary.json and junit.xml marked as the VM's."""
    guest = vm_plan.read_json(vm.reports / "guest-facts.json")
    accel = vm.state / "accel"  # kept after `down`: which accelerator the run used
    host: dict[str, object] = {"hostname": platform.node(), "kernel": platform.release(),
            "accel": accel.read_text().strip() if accel.is_file() else None}  # fmt: skip
    record = vm_plan.origin(guest, host, vm.timings, vm.suite)
    (vm.reports / "origin.json").write_text(json.dumps(record, indent=2) + "\n")
    summary = vm.reports / "summary.json"
    if summary.is_file():
        marked = vm_plan.mark_summary(vm_plan.read_json(summary), record)
        summary.write_text(json.dumps(marked, indent=2) + "\n")
    junit = vm.reports / "junit.xml"
    if junit.is_file():
        junit.write_text(vm_plan.mark_junit(junit.read_text(), vm.label))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    p = new_parser("hardlab vm", "The disposable lab VM (AppArmor kernel, --privileged works).", usage=USAGE,
                   epilog="run's exit code is the guest run's, in the same table (0 held, 1 findings, 2 harness).")
    p.add_argument("--suite", help="the guest's Debian suite: bookworm (default) or trixie")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("up", help="build (once, cached) and boot the lab VM; wait until its engine answers")
    for name, help_ in (("run", "run the scenario suite in the VM (pytest args pass through); reports in reports/vm/"),
                        ("exec", "run one command in the VM, in the project folder"),
                        ("doctor", "`hardlab doctor` inside the VM")):  # fmt: skip
        sub.add_parser(name, help=help_, add_help=name != "exec").add_argument("rest", nargs=argparse.REMAINDER)
    sub.add_parser("down", help="stop the VM; nothing is left running")
    sub.add_parser("status", help="is it running, which accelerator, where the cached disk is").add_argument(
        "--json", action="store_true")
    return p


def main(argv: list[str]) -> int:
    cli = parser()
    try:
        args, extra = cli.parse_known_args(argv)
        if extra and not hasattr(args, "rest"):
            cli.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help (0) or a usage error (2), said by argparse
        return int(exc.code or 0)
    action = args.action
    # run, exec and doctor pass everything after the action through, in order (pytest's -m, doctor's --json)
    rest = argv[argv.index(action) + 1:] if hasattr(args, "rest") else []
    try:
        vm = Vm(suite=args.suite)
    except BadInput as exc:
        print(f"hardlab vm: {exc}", file=sys.stderr)
        return Exit.HARNESS
    if action in {"up", "run", "exec", "doctor"}:
        # SIGTERM (CI cancelling a job) takes the same path as Ctrl-C: the finally blocks reap qemu.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if action == "up":
            vm.up()
            vm.say(f"up; {vm_plan.format_timings(vm.timings)}")
            return 0
        if action == "run":
            return run_pack(vm, rest)
        if action in {"exec", "doctor"}:
            argv = ["python3", "-m", "hardlab.cli", "doctor", *rest] if action == "doctor" else rest
            if not argv:
                print("usage: hardlab vm exec CMD [ARGS...]", file=sys.stderr)
                return 2
            return exec_command(vm, argv)
        if action == "down":
            vm.say("stopped" if vm.down() else "was not running")
            return 0
        if action == "status":
            status = vm.status()
            if args.json:
                print(json.dumps(status, indent=2))
            else:
                print("\n".join(f"{key:<12} {value}" for key, value in status.items()))
            return 0
    except VmError as exc:
        print(f"hardlab vm {action}: {exc}", file=sys.stderr)
        return Exit.HARNESS
    except BrokenPipeError:  # `hardlab vm status | head`
        return 0
    except KeyboardInterrupt:
        if action == "up":  # a half-booted VM is of no use to anyone
            vm.kill()
        vm.say("interrupted" + ("; stopped the VM" if vm.running_pid() is None else "; the VM is still up"))
        return Exit.INTERRUPTED
    print(USAGE, file=sys.stderr)
    return Exit.HARNESS
