"""`hardlab trust up | down [RUN_ID] | status`: the content-trust lab on loopback, for a person at a shell.

`up` starts a lab and leaves it running (prints the environment to use); `down` stops labs by the PIDs
recorded in their state files.
"""

from __future__ import annotations

import argparse
import sys

from hardlab.cli.args import new_parser
from hardlab.outcomes import Exit
from hardlab.system import processes
from hardlab.trust.lab import TrustLab, launch, new_run_id, running_labs, state_root
from hardlab.trust.tools import TrustUnavailable


def _print_up(lab: TrustLab) -> None:
    env = lab.env()
    print(f"trust lab {lab.run_id} is up")
    print(
        f"  registry  http://{lab.registry}  (pid {lab.pids['registry']}; plain HTTP: the engine treats "
        "127.0.0.0/8 registries as insecure)"
    )
    print(f"  notary    {lab.notary_url}  (pid {lab.pids['notary']}; TLS from the lab CA {lab.ca})")
    print("  note: for a loopback registry the docker CLI skips the notary certificate check; the CA sits")
    print("        where a real host needs it, but here only hardlab's readiness probe verified it.")
    print(f"  stop with: hardlab trust down {lab.run_id}\n")
    for key in (
        "DOCKER_CONFIG",
        "DOCKER_CONTENT_TRUST",
        "DOCKER_CONTENT_TRUST_SERVER",
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
    ):
        print(f"export {key}={env[key]}")
    print(f"export HARDLAB_REGISTRY={lab.registry}")
    print("# walkthrough: labs/trust/README.md")


def parser() -> argparse.ArgumentParser:
    """`hardlab trust`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab trust", "content-trust lab on loopback: a registry and a notary server")
    sub = p.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start a registry and a notary server on 127.0.0.1 (stays running)")
    up.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    down = sub.add_parser("down", help="stop labs started by `up` (all of them without RUN_ID)")
    down.add_argument("run_id", nargs="?")
    sub.add_parser("status", help="list running labs")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)

    if args.action == "up":
        try:
            lab = launch(new_run_id("up"), install=not args.no_install)
        except TrustUnavailable as exc:
            print(f"hardlab trust: cannot start the lab: {exc}", file=sys.stderr)
            return Exit.HARNESS
        except RuntimeError as exc:
            print(f"hardlab trust: {exc}", file=sys.stderr)
            return Exit.HARNESS
        # Detached on purpose: the servers outlive this command until `hardlab trust down`.
        _print_up(lab)
        return 0
    labs = running_labs()
    if args.action == "status":
        for lab in labs:
            alive = {n: processes.is_ours(p, str(lab.state_dir)) for n, p in lab.pids.items()}
            print(f"{lab.run_id}  registry={lab.registry}  notary={lab.notary}  running={alive}")
        if not labs:
            print("no trust lab running")
        return 0
    chosen = [lab for lab in labs if args.run_id in (None, lab.run_id)]
    if args.run_id and not chosen:
        print(f"hardlab trust: no lab {args.run_id!r} under {state_root()}", file=sys.stderr)
        return Exit.HARNESS
    for lab in chosen:
        lab.stop()
        print(f"stopped {lab.run_id}")
    return 0
