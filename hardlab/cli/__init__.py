"""The `hardlab` command: thin dispatch to the module that owns each subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from hardlab import __version__
from hardlab.outcomes import EXIT_EPILOG, Exit

# subcommand -> (module, one-line help). Each module exposes `main(argv: list[str]) -> int` and parses its
# arguments with argparse before doing anything, so `hardlab COMMAND --help` never needs an engine.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("hardlab.cli.run", "run scenarios through pytest (any pytest option passes through)"),
    "list": ("hardlab.cli.list", "list scenarios, their cases and tags (--json)"),
    "doctor": ("hardlab.cli.doctor", "show what this host's engine and kernel can enforce"),
    "images": ("hardlab.cli.images", "the offline lab images: build | list | prune"),
    "vm": ("hardlab.cli.vm", "disposable lab VM with AppArmor: up | run | exec | doctor | down | status"),
    "trust": ("hardlab.cli.trust", "content-trust lab on loopback: up | down | status"),
    "scan": ("hardlab.cli.scan", "scan an image's packages against an offline advisory feed"),
    "grade": ("hardlab.cli.grade", "grade students' submissions against a course file"),
    "audit": ("hardlab.cli.audit", "nightly host-hardening audit of one or more engines"),
    "report": ("hardlab.cli.report", "render a run's summary.json as one self-contained HTML page"),
    "learn": ("hardlab.cli.learn", "record a workload's syscalls, write a least-privilege seccomp profile, prove it"),
    "completion": ("hardlab.cli.completion", "print a shell completion script: bash | zsh"),
}


def parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="hardlab", usage="hardlab [--version] COMMAND [args]",
        description="Docker container-security labs as real, runnable pytest suites.",
        epilog=f"commands:\n{commands}\n\n`hardlab COMMAND --help` for each command's options.\n\n{EXIT_EPILOG}",
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)  # fmt: skip
    p.add_argument("--version", action="version", version=f"hardlab {__version__}")
    p.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def usage() -> str:
    return parser().format_help()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:  # the command's own parser reads the rest (its --help included)
        name, rest = args[0], args[1:]
    else:
        top = parser()
        ns = top.parse_args(args)  # --version, --help, or a usage error (exit 2)
        if ns.command in (None, "help"):
            print(usage())
            return Exit.OK if ns.command == "help" or not args else Exit.HARNESS
        print(f"hardlab: unknown command {ns.command!r}\n\n{usage()}", file=sys.stderr)
        return Exit.HARNESS
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest))
    except BrokenPipeError:  # `hardlab list | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
