"""`hardlab images build [NAME...] | list | prune`: the offline lab images."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hardlab.cli.args import new_parser
from hardlab.errors import HarnessError
from hardlab.outcomes import Exit


def parser() -> argparse.ArgumentParser:
    """`hardlab images`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab images", "The offline lab images, built from Debian packages and cached.",
                   usage="hardlab images build [NAME...] | list | prune")  # fmt: skip
    sub = p.add_subparsers(dest="action")
    build = sub.add_parser("build", help="build the lab images missing on the engine (default)")
    build.add_argument("names", nargs="*", help="recipe names (default: all)")
    sub.add_parser("list", help="recipes, their tags and files (no engine needed)")
    sub.add_parser("prune", help="remove lab images of outdated recipes")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from hardlab.engine import images
    from hardlab.engine.client import connect

    action = args.action or "build"
    if action == "list":
        for name in images.recipe_names():
            print(f"{images.PREFIX}{name:<10} {images.tag_for(name)}  ({images.RECIPES / name / 'recipe.sh'})")
        return Exit.OK
    try:
        client = connect()
        if action == "prune":
            print("\n".join(images.prune_stale(client)) or "nothing to prune")
            return Exit.OK
        for name in getattr(args, "names", None) or images.recipe_names():
            images.ensure(client, images.PREFIX + name)
    except HarnessError as exc:
        print(f"hardlab images: {exc}", file=sys.stderr)
        return Exit.HARNESS
    return Exit.OK


def ready(prog: str) -> bool:
    """The engine answers and every lab image is built; False after saying why (for run and grade)."""
    from hardlab.engine import images
    from hardlab.engine.client import connect

    try:
        images.ensure_all(connect())
    except HarnessError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return False
    return True


def ready_engines(prog: str, engines: list[Any]) -> bool:
    """Each engine answers and has every lab image (imported once per engine, all at once); False after
    saying which engine did not and why."""
    import concurrent.futures

    from hardlab.engine import images
    from hardlab.engine.client import connect_endpoint

    def one(endpoint: Any) -> None:
        images.ensure_all(connect_endpoint(endpoint, timeout=60))

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(engines))) as pool:
        futures = [pool.submit(one, e) for e in engines]
        failed = False
        for future in futures:
            try:
                future.result()
            except HarnessError as exc:
                print(f"{prog}: {' '.join(str(exc).split())[:400]}", file=sys.stderr)
                failed = True
    return not failed
