"""Read an image's package inventory offline, through the engine layer's never-started container."""

from __future__ import annotations

from typing import Any

from hardlab.engine import imagefs
from hardlab.errors import HarnessError
from hardlab.scan.inventory import APK_INSTALLED, DPKG_STATUS, DPKG_STATUS_D, OS_RELEASE, Inventory, build_inventory


class ImageNotAvailable(HarnessError, LookupError):
    """The image is not in the local engine; `hardlab scan` never pulls."""


def read_image(image: str, client: Any = None, container_labels: dict[str, str] | None = None) -> Inventory:
    """Inventory of a local image: its os-release and package databases, copied out of a stopped container."""
    try:
        files = imagefs.read_files(
            image, (*OS_RELEASE, DPKG_STATUS, APK_INSTALLED), (DPKG_STATUS_D,), client, container_labels
        )
    except imagefs.EngineUnreachable as exc:
        raise RuntimeError(f"no Docker Engine answers ({exc}); scan a rootfs folder instead, or start one") from None
    except imagefs.ImageNotFound:
        raise ImageNotAvailable(
            f"image {image!r} is not in the local engine; hardlab scan never pulls "
            "(build or load it first, or pass a rootfs folder)"
        ) from None
    files = {path: text for path, text in files.items() if not path.endswith(".md5sums")}
    return build_inventory(image, files)
