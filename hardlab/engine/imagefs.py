"""Files out of an image without running it: a created, never started container, copied from, removed.

Nothing runs inside the image, so FROM-scratch images and images without a shell are read the same way.
The container carries hardlab's labels and is removed on success, failure and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import tarfile
from collections.abc import Iterable
from typing import Any

import docker
import docker.errors

from hardlab.engine import labels
from hardlab.errors import HarnessError

MAX_SYMLINK_HOPS = 5


class EngineUnreachable(HarnessError):
    """No Docker Engine answers; the message is docker-py's."""


class ImageNotFound(HarnessError, LookupError):
    """The image is not in the engine (nothing here pulls)."""


def _archive(container: Any, path: str) -> tarfile.TarFile | None:
    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    return tarfile.open(fileobj=io.BytesIO(b"".join(stream)))


def _read_file(container: Any, path: str, hops: int = 0) -> str | None:
    """A regular file's text, following symlinks inside the image (/etc/os-release is one on Debian)."""
    tar = _archive(container, path)
    if tar is None:
        return None
    member = tar.getmembers()[0]
    if member.issym() and hops < MAX_SYMLINK_HOPS:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
        return _read_file(container, target, hops + 1)
    handle = tar.extractfile(member) if member.isfile() else None
    return handle.read().decode("utf-8", errors="replace") if handle else None


def _read_folder(container: Any, folder: str) -> dict[str, str]:
    """The text of every regular file under `folder`, keyed `folder/<file name>`."""
    tar = _archive(container, "/" + folder)
    files: dict[str, str] = {}
    if tar is None:
        return files
    for member in tar.getmembers():
        handle = tar.extractfile(member) if member.isfile() else None
        if handle:
            files[f"{folder}/{posixpath.basename(member.name)}"] = handle.read().decode("utf-8", errors="replace")
    return files


def read_files(
    image: str,
    files: Iterable[str],
    folders: Iterable[str] = (),
    client: Any = None,
    container_labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """Text of those of `files` (paths relative to the image's root) that exist, and of the regular files in
    `folders`, keyed by their path relative to the root. Raises EngineUnreachable, ImageNotFound."""
    try:
        client = client or docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineUnreachable(str(exc)) from None
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise ImageNotFound(f"image {image!r} is not in the engine") from None
    # The command is never executed; giving one lets images without CMD (docker import) be created too.
    container = client.containers.create(
        image,
        command=["/hardlab-never-started"],
        entrypoint=[],
        labels=container_labels or labels.for_current_run(),
        network_disabled=True,
    )
    try:
        out: dict[str, str] = {}
        for rel in files:
            text = _read_file(container, "/" + rel)
            if text is not None:
                out[rel] = text
        for folder in folders:
            out.update(_read_folder(container, folder))
        return out
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
