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
from hardlab.system.locks import file_lock, holder_text

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


HEARTBEAT_S = 15.0  # a long phase says it is still running this often (a fresh lab:tools takes ~90 s)


def lock(what: str = "", log: Any = sys.stderr) -> AbstractContextManager[None]:
    """One builder at a time across xdist workers and concurrent runs on this machine. `what` is this
    process's build ("lab:tools"), named to a process that has to wait for it."""
    return file_lock(CACHE / ".lock", holder=f"build of {what}" if what else "image build",
                     on_wait=lambda note: _say(log, waiting_text(note)))  # fmt: skip


def waiting_text(note: str) -> str:
    """What a process waiting on the build lock is told, from the holder's note ("PID build of lab:tools")."""
    pid, what = holder_text(note)
    if pid is None:
        return "waiting for another hardlab's image build to finish…"  # it is letting go, or left no note
    return f"waiting for another hardlab's {what or 'image build'} (pid {pid})…"


def _say(log: Any, text: str) -> None:
    print(f"hardlab: {text}", file=log, flush=True)


class Phase:
    """One phase of a build, said when it starts and when it ends, with its elapsed seconds."""

    def __init__(self, log: Any, image: str, what: str):
        self.log, self.image, self.what = log, image, what
        self.started = time.monotonic()
        _say(log, f"{image}: {what}…")

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def still(self, detail: str = "") -> None:
        _say(self.log, f"{self.image}: {self.what}, still running after {self.elapsed():.0f}s"
                       + (f" ({detail})" if detail else ""))  # fmt: skip

    def done(self, detail: str = "") -> float:
        took = self.elapsed()
        _say(self.log, f"{self.image}: {self.what} done in {took:.1f}s" + (f" ({detail})" if detail else ""))
        return took


def engine_lock(client: Any) -> AbstractContextManager[None]:
    """One importer at a time per engine: several engines take their images at once. (docker-py gives
    every unix socket the same base_url, so local engines share one lock: safe, only less parallel.)"""
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
        with lock(image, log):
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
    _say(log, f"building {PREFIX}{name} from Debian packages (once; cached in {CACHE})")
    with tempfile.TemporaryDirectory(prefix=f"hardlab-{name}-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        recipe = RECIPES / name / "recipe.sh"
        phase = Phase(log, PREFIX + name, f"recipe {recipe.name} filling the rootfs")
        code, output = _run_recipe(recipe, rootfs, phase)
        if code != 0:
            raise ImageError(f"recipe {recipe} failed ({code}) after {phase.elapsed():.0f}s: {output.strip()[-2000:]}")
        phase.done()
        phase = Phase(log, PREFIX + name, "packing the rootfs into the cache")
        partial = tarball.with_suffix(".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
        phase.done(f"{tarball.stat().st_size / 1e6:.0f} MB")
    return tarball


def _run_recipe(recipe: Path, rootfs: Path, phase: Phase) -> tuple[int, str]:
    """Run a recipe, saying every HEARTBEAT_S that it still runs, with the last line of the logs it writes
    beside the rootfs (debootstrap's "Retrieving ..."). Returns its exit code and its output."""
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(["bash", str(recipe), str(rootfs)], stdout=out, stderr=subprocess.STDOUT, text=True)
        while True:
            try:
                code = proc.wait(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                phase.still(last_log_line(rootfs.parent))
        out.seek(0)
        return code, out.read()


def last_log_line(folder: Path) -> str:
    """The newest line of the newest *.log in `folder` ('' when there is none), cut to 100 characters."""
    logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return ""
    with open(logs[-1], "rb") as handle:
        handle.seek(max(0, logs[-1].stat().st_size - 4096))
        lines = [ln for ln in handle.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:100] if lines else ""


def _build(client: Any, name: str, ref: str, log: Any) -> None:
    repo, tag = ref.split(":")
    started = time.monotonic()
    tarball = build_tarball(name, log)
    phase = Phase(log, PREFIX + name, f"importing {tarball.name} into the engine")
    with open(tarball, "rb") as data:
        client.api.import_image_from_data(
            data.read(),
            repository=repo,
            tag=tag,
            changes=[f"ENV {PATH_ENV}", 'CMD ["/bin/sh"]', f"LABEL {labels.IMAGE_KEY}=1 hardlab.recipe={name}"],
        )
    if not _exists(client, ref):
        raise ImageError(f"docker import of {tarball} did not produce {ref}")
    phase.done()
    _say(log, f"{PREFIX}{name} ready as {ref} in {time.monotonic() - started:.1f}s")


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
