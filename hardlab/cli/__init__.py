"""The `hardlab` command: thin dispatch to the module that owns each subcommand."""

from __future__ import annotations

import importlib
import os
import sys

# subcommand -> (module, one-line help). Each module exposes `main(argv: list[str]) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hardlab.cli.run", "run scenarios through pytest (any pytest option passes through)"),
    "list": ("hardlab.cli.list", "list scenarios, their cases and tags"),
    "doctor": ("hardlab.cli.doctor", "show what this host's engine and kernel can enforce"),
    "images": ("hardlab.cli.images", "build the offline lab images (cached)"),
    "vm": ("hardlab.cli.vm", "disposable lab VM with AppArmor: up | run | down | status"),
    "trust": ("hardlab.cli.trust", "content-trust lab on loopback: up | down"),
    "scan": ("hardlab.cli.scan", "scan an image's packages against an offline advisory feed"),
    "grade": ("hardlab.cli.grade", "grade students' submissions against a course file"),
    "audit": ("hardlab.cli.audit", "nightly host-hardening audit of one or more engines"),
    "learn": ("hardlab.cli.learn", "record a workload's syscalls, write a least-privilege seccomp profile, prove it"),
}


def usage() -> str:
    lines = ["usage: hardlab COMMAND [args]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"hardlab: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest))
    except BrokenPipeError:  # `hardlab list | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
