"""Read an image's package inventory offline: create a stopped container, copy files out, remove it.

Nothing runs inside the image (the container is never started), so FROM-scratch images and images
without a shell are read the same way. The container carries the hardlab labels and is removed on
success, failure and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import tarfile
from typing import Any

from hardlab.engine import labels
from hardlab.errors import HarnessError
from hardlab.scan.inventory import APK_INSTALLED, DPKG_STATUS, DPKG_STATUS_D, OS_RELEASE, Inventory, build_inventory


class ImageNotAvailable(HarnessError, LookupError):
    """The image is not in the local engine; `hardlab scan` never pulls."""


def run_labels() -> dict[str, str]:
    """hardlab's labels for this run (HARDLAB_RUN_ID when a harness set one), owner = this process."""
    return labels.for_run(os.environ.get("HARDLAB_RUN_ID") or labels.new_run_id(), labels.owner())


def _archive(container: Any, path: str) -> tarfile.TarFile | None:
    import docker.errors

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
    if member.issym() and hops < 5:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), member.linkname))
        return _read_file(container, target, hops + 1)
    handle = tar.extractfile(member) if member.isfile() else None
    return handle.read().decode("utf-8", errors="replace") if handle else None


def read_image(image: str, client: Any = None, container_labels: dict[str, str] | None = None) -> Inventory:
    """Inventory of a local image via docker-py (`get_archive` on a created, never started container)."""
    import docker
    import docker.errors

    try:
        client = client or docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise RuntimeError(f"no Docker Engine answers ({exc}); scan a rootfs folder instead, or start one") from None
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise ImageNotAvailable(
            f"image {image!r} is not in the local engine; hardlab scan never pulls "
            "(build or load it first, or pass a rootfs folder)"
        ) from None
    container_labels = container_labels or run_labels()
    # The command is never executed; giving one lets images without CMD (docker import) be created too.
    container = client.containers.create(
        image, command=["/hardlab-scan-never-started"], entrypoint=[], labels=container_labels, network_disabled=True
    )
    try:
        files: dict[str, str] = {}
        for rel in (*OS_RELEASE, DPKG_STATUS, APK_INSTALLED):
            text = _read_file(container, "/" + rel)
            if text is not None:
                files[rel] = text
        tar = _archive(container, "/" + DPKG_STATUS_D)
        if tar is not None:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                if handle and not member.name.endswith(".md5sums"):
                    name = posixpath.basename(member.name)
                    files[f"{DPKG_STATUS_D}/{name}"] = handle.read().decode("utf-8", errors="replace")
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)
    return build_inventory(image, files)
