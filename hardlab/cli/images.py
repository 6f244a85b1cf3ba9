"""`hardlab images build [NAME...] | list | prune`: the offline lab images."""

from __future__ import annotations

import sys

from hardlab.engine import images
from hardlab.engine.client import connect
from hardlab.errors import HarnessError
from hardlab.outcomes import Exit

USAGE = "usage: hardlab images build [NAME...] | list | prune"


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "build"
    if action in {"-h", "--help"}:
        print(USAGE)
        return Exit.OK
    if action not in {"build", "list", "prune"}:
        print(USAGE, file=sys.stderr)
        return Exit.HARNESS
    if action == "list":
        for name in images.recipe_names():
            print(f"{images.PREFIX}{name:<10} {images.tag_for(name)}  ({images.RECIPES / name / 'recipe.sh'})")
        return Exit.OK
    try:
        client = connect()
        if action == "prune":
            print("\n".join(images.prune_stale(client)) or "nothing to prune")
            return Exit.OK
        for name in argv[1:] or images.recipe_names():
            images.ensure(client, images.PREFIX + name)
    except HarnessError as exc:
        print(f"hardlab images: {exc}", file=sys.stderr)
        return Exit.HARNESS
    return Exit.OK


def ready(prog: str) -> bool:
    """The engine answers and every lab image is built; False after saying why (for run and grade)."""
    try:
        images.ensure_all(connect())
    except HarnessError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return False
    return True
