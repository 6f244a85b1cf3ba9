"""`hardlab learn [--lsm seccomp|apparmor] --run CMD… [--run-file SCRIPT…] [--container KEY=VALUE…]
[--image lab:tools] [--out DIR] [--allow NAME[=REASON]] [--minimise]`

Records the workload's syscalls, writes a least-privilege seccomp profile and the scenario that proves
it, and runs that proof at once. `--prove PROFILE.json` proves an existing (edited) profile again.
`--lsm apparmor` records the workload's file, program, capability and network accesses under a
complain-mode AppArmor profile instead and proves the enforce profile it writes (a kernel with AppArmor:
the lab VM).
Exit status (the table every command shares): 0 proof passed, 1 proof failed (the missing syscall is
named), 2 bad arguments or harness trouble.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hardlab.cli.args import new_parser
from hardlab.errors import BadInput, HarnessError
from hardlab.learn import aa_profile, aa_run, runtime
from hardlab.learn import profile as gen
from hardlab.learn.run import METHOD, Learned, Options, container_options, learn, prove_again, workload_file
from hardlab.outcomes import Exit

DOCKER_DEFAULT_ALLOWED = "over 300"  # names moby's default profile allows unconditionally on x86_64


def parser() -> argparse.ArgumentParser:
    """`hardlab learn`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab learn", "learn a least-privilege seccomp (or AppArmor) profile and prove it")
    p.add_argument("--lsm", choices=("seccomp", "apparmor"), default="seccomp",
                   help="a seccomp profile (default) or an AppArmor profile (needs AppArmor: the lab VM)")
    p.add_argument("--run", action="append", default=[], metavar="CMD", help="workload (sh -c CMD); repeatable")
    p.add_argument(
        "--run-file",
        action="append",
        default=[],
        type=Path,
        metavar="SCRIPT",
        help="workload script (run as sh -c with the file's text); repeatable",
    )
    p.add_argument(
        "--container",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the workload's run option (docker-py name, TOML value), e.g. user=1000, read_only=true; repeatable",
    )
    p.add_argument("--image", default="lab:tools", help="image with strace (default lab:tools)")
    p.add_argument("--out", type=Path, default=Path("labs/learned"), help="folder for the files (default labs/learned)")
    p.add_argument("--name", default="learned", help="file name stem (default learned)")
    p.add_argument("--allow", action="append", default=[], metavar="NAME[=REASON]", help="also allow NAME; repeatable")
    p.add_argument("--minimise", action="store_true", help="drop each allowed syscall the workload does not need")
    p.add_argument("--prove", type=Path, metavar="PROFILE", help="only prove PROFILE (written by learn, maybe edited)")
    p.add_argument("--timeout", type=float, default=60, help="seconds per workload run (default 60)")
    p.add_argument("-n", "--workers", default="0", help="xdist workers for the proof (default 0)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    return parser().parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    allow = {}
    for item in args.allow:
        name, _, reason = item.partition("=")
        if not name.isidentifier():
            print(f"hardlab learn: --allow {item!r}: not a syscall name", file=sys.stderr)
            return 2
        allow[name] = reason or "allowed on the command line"
    if args.lsm == "apparmor":
        return _apparmor(args)
    try:
        if args.prove:
            done = prove_again(args.prove, args.workers, args.timeout)
        else:
            runs = [*args.run, *(workload_file(f) for f in args.run_file)]
            container = container_options(args.container)
            opts = Options(runs, args.out, args.name, args.image, allow, args.minimise, args.timeout, args.workers,
                           container)  # fmt: skip
            done = learn(opts)
    except BadInput as exc:
        print(f"hardlab learn: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"hardlab learn: {exc}", file=sys.stderr)
        return int(Exit.HARNESS)
    return _report(done)


def _report(done: Learned) -> int:
    rec, prf = done.recording, done.proof
    print(f"method: {METHOD}")
    print(f"recorded: {len(rec.all())} syscalls ({', '.join(f'{a} {len(n)}' for a, n in rec.calls.items())}) "
          f"in {rec.seconds:.1f}s; runtime list: {runtime.load().version}")  # fmt: skip
    if rec.unknown:
        print(f"strace could not name {', '.join(rec.unknown)}: not in the profile")
    print(f"profile: {len(gen.allowed(done.profile))} syscalls allowed (Docker's default: {DOCKER_DEFAULT_ALLOWED}) "
          f"-> {done.files['profile']}")  # fmt: skip
    if done.minimised:
        print(f"--minimise: removed {done.minimised[0]} in {done.minimised[1]:.1f}s")
    if done.left_out:
        print(f"not probed, the workload made them (so the profile allows them): {', '.join(done.left_out)}")
    if prf is None:
        return 0
    totals = ", ".join(f"{n} {k}" for k, n in prf.totals.items())
    print(f"proof: {done.files['scenario']}: {totals} in {prf.seconds:.1f}s")
    if prf.passed:
        print("proof passed: the workload runs under the profile and the refused calls are refused")
        return 0
    print(f"proof FAILED: {', '.join(prf.failed) or f'pytest exit {prf.pytest_exit}'}", file=sys.stderr)
    if prf.missing:
        names = ", ".join(prf.missing)
        print(f"the workload needs {names}, which the profile does not allow: re-record, or --allow "
              f"{prf.missing[0]}=REASON", file=sys.stderr)  # fmt: skip
    elif any(f.startswith("workload-") for f in prf.failed):
        print("no single recorded syscall makes the workload run (or it fails only intermittently): re-record it, "
              "or widen with --allow NAME", file=sys.stderr)  # fmt: skip
    return 1


SECCOMP_ONLY = ("allow", "minimise", "prove")


def _apparmor(args: argparse.Namespace) -> int:
    given = [f"--{o}" for o in SECCOMP_ONLY if getattr(args, o)]
    if given:
        print(f"hardlab learn: {', '.join(given)}: seccomp only, not with --lsm apparmor", file=sys.stderr)
        return 2
    try:
        runs = [*args.run, *(workload_file(f) for f in args.run_file)]
        opts = aa_run.AaOptions(runs, args.out, args.name, args.image, args.timeout, args.workers,
                                container_options(args.container))  # fmt: skip
        done = aa_run.learn(opts)
    except BadInput as exc:
        print(f"hardlab learn: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"hardlab learn: {exc}", file=sys.stderr)
        return int(Exit.HARNESS)
    rec, prf = done.recording, done.proof
    print(f"method: {rec.method}")
    for warning in rec.warnings:
        print(f"hardlab learn: warning: {warning}", file=sys.stderr)
    print(f"recorded: {aa_run.describe_recording(rec)}")
    c = aa_profile.rule_counts(done.profile)
    print(f"profile: {aa_profile.enforce_name(args.name)}: {c['file']} file rules ({c['exec']} programs ix), "
          f"{c['capability']} capabilities, {c['network']} network rules (docker-default: every file, capability "
          f"and network) -> {done.files['profile']}")  # fmt: skip
    totals = ", ".join(f"{n} {k}" for k, n in prf.totals.items())
    print(f"proof: {done.files['scenario']}: {totals} in {prf.seconds:.1f}s (results: {done.files['proof']})")
    if prf.passed:
        print("proof passed: the workload runs under the profile, and what it never did is refused")
        return 0
    print(f"proof FAILED: {', '.join(prf.failed) or f'pytest exit {prf.pytest_exit}'}", file=sys.stderr)
    if prf.denied:
        print(f"the kernel refused, under the learned profile: {'; '.join(prf.denied[:10])}: re-record the "
              "workload, or add the rule to the profile", file=sys.stderr)  # fmt: skip
    return 1
