"""A lab image built on a real engine says its phases: recipe, packing, import, ready, with their seconds."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from hardlab.engine import images

pytestmark = pytest.mark.e2e

RECIPE = """\
#!/usr/bin/env bash
set -eu
mkdir -p "$1/etc" && echo progress > "$1/etc/hostname"
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="host lacks root: a lab image recipe builds a root-owned rootfs")
def test_a_lab_image_build_says_its_phases(docker_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "recipes" / "progress").mkdir(parents=True)
    (tmp_path / "recipes" / "progress" / "recipe.sh").write_text(RECIPE + f"# {tmp_path.name}\n")  # a tag of its own
    monkeypatch.setattr(images, "RECIPES", tmp_path / "recipes")
    monkeypatch.setattr(images, "CACHE", tmp_path / "cache")
    log = io.StringIO()
    ref = images.ensure(docker_client, "lab:progress", log)
    try:
        said = log.getvalue()
        for phase in ("recipe recipe.sh filling the rootfs done in", "packing the rootfs into the cache done in",
                      "importing progress-", "into the engine done in", f"lab:progress ready as {ref} in"):
            assert phase in said, said
        again = io.StringIO()
        assert images.ensure(docker_client, "lab:progress", again) == ref and again.getvalue() == ""
    finally:
        docker_client.images.remove(ref, force=True)
