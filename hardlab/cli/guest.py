"""`python3 -m hardlab.cli.guest facts`: run by the lab VM's guest job; prints hardlab.vm.guest.facts() as JSON."""

from __future__ import annotations

import json
import sys

from hardlab.vm.guest import facts


def main(argv: list[str]) -> int:
    if argv[:1] != ["facts"]:
        print("usage: python3 -m hardlab.cli.guest facts", file=sys.stderr)
        return 2
    print(json.dumps(facts(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
