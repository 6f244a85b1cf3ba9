"""Lab images built offline from Debian packages: `lab:busybox` and `lab:tools`.

Each recipe is a script under labs/images/NAME/ that fills a rootfs folder; the image is that folder
imported with `docker import`, tagged `hardlab/NAME:<hash of the recipe>` so an unchanged recipe is
never rebuilt. Rootfs tarballs are cached on disk too, so a reset engine re-imports in seconds.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from hardlab import config
from hardlab.engine import labels
from hardlab.errors import HarnessError
from hardlab.system.locks import file_lock

RECIPES = config.recipes_dir()
CACHE = config.cache_dir() / "images"
PREFIX = "lab:"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageError(HarnessError):
    """A lab image could not be built or found (an engine problem, not a security finding)."""


def recipe_names() -> list[str]:
    return sorted(p.name for p in RECIPES.iterdir() if (p / "recipe.sh").is_file())


def recipe_hash(name: str) -> str:
    """Hash of every file in the recipe folder: change a file, get a new tag."""
    folder = RECIPES / name
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def tag_for(name: str) -> str:
    return f"hardlab/{name}:{recipe_hash(name)}"


def resolve(image: str) -> str:
    """`lab:NAME` -> the tag of that recipe's image; any other reference is used as it is."""
    if not image.startswith(PREFIX):
        return image
    name = image[len(PREFIX) :]
    if not (RECIPES / name / "recipe.sh").is_file():
        raise ImageError(f"no lab image recipe {image!r}; known: {', '.join(PREFIX + n for n in recipe_names())}")
    return tag_for(name)


def lock() -> AbstractContextManager[None]:
    """One builder at a time across xdist workers and concurrent runs on this machine."""
    return file_lock(CACHE / ".lock")


def engine_lock(client: Any) -> AbstractContextManager[None]:
    """One importer at a time per engine: several engines take their images at once."""
    where = hashlib.sha256(str(client.api.base_url).encode()).hexdigest()[:16]
    return file_lock(CACHE / f".lock-engine-{where}")


def _exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure(client: Any, image: str, log: Any = sys.stderr) -> str:
    """Make sure `image` is on the engine, building a lab recipe if needed; return the reference."""
    ref = resolve(image)
    if not image.startswith(PREFIX):
        return ref
    if _exists(client, ref):
        return ref
    name = image[len(PREFIX) :]
    if not tarball_path(name).is_file():
        with lock():
            build_tarball(name, log)  # the rootfs once for every engine (a no-op when another built it)
    with engine_lock(client):
        if not _exists(client, ref):  # another worker may have imported it while we waited
            _build(client, name, ref, log)
    return ref


def tarball_path(name: str) -> Path:
    return CACHE / f"{name}-{recipe_hash(name)}.tar"


def build_tarball(name: str, log: Any = sys.stderr) -> Path:
    """The recipe's rootfs as a cached tarball, built if missing (callers hold `lock()`)."""
    tarball = tarball_path(name)
    if tarball.is_file():
        return tarball
    if os.geteuid() != 0:
        raise ImageError(f"building {PREFIX}{name} needs root (the recipe makes a rootfs owned by root)")
    print(f"hardlab: building {PREFIX}{name} from Debian packages (once; cached in {CACHE})", file=log, flush=True)
    with tempfile.TemporaryDirectory(prefix=f"hardlab-{name}-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        recipe = RECIPES / name / "recipe.sh"
        done = subprocess.run(["bash", str(recipe), str(rootfs)], capture_output=True, text=True)
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip()[-2000:]
            raise ImageError(f"recipe {recipe} failed ({done.returncode}): {why}")
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


def _build(client: Any, name: str, ref: str, log: Any) -> None:
    repo, tag = ref.split(":")
    started = time.monotonic()
    tarball = build_tarball(name, log)
    with open(tarball, "rb") as data:
        client.api.import_image_from_data(
            data.read(),
            repository=repo,
            tag=tag,
            changes=[f"ENV {PATH_ENV}", 'CMD ["/bin/sh"]', f"LABEL {labels.IMAGE_KEY}=1 hardlab.recipe={name}"],
        )
    if not _exists(client, ref):
        raise ImageError(f"docker import of {tarball} did not produce {ref}")
    print(f"hardlab: {PREFIX}{name} ready as {ref} in {time.monotonic() - started:.1f}s", file=log, flush=True)


def ensure_all(client: Any, log: Any = sys.stderr) -> None:
    """Make sure every lab image exists on the engine, building what is missing (raises ImageError)."""
    for name in recipe_names():
        ensure(client, PREFIX + name, log)


def prune_stale(client: Any) -> list[str]:
    """Remove lab images of recipes that have since changed (their tag no longer matches)."""
    current = {tag_for(n) for n in recipe_names()}
    removed = []
    for image in client.images.list(filters={"label": labels.IMAGE_KEY}):
        for tag in image.tags:
            if tag.startswith("hardlab/") and tag not in current:
                client.images.remove(tag, noprune=False)
                removed.append(tag)
    for stale in CACHE.glob("*.tar"):
        if not any(stale.name == f"{ref.split('/')[1].replace(':', '-')}.tar" for ref in current):
            stale.unlink(missing_ok=True)
    return removed
