"""The once-per-engine image check keys on the client, not on base_url (every unix socket reads the same)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from hardlab.engine import images, runner


class _Api:
    base_url = "http+docker://localhost"


def _client() -> Any:
    return SimpleNamespace(api=_Api())


def test_two_local_engines_are_each_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []
    monkeypatch.setattr(images, "ensure", lambda client, image: asked.append(client) or "hardlab/busybox:x")
    main, other = _client(), _client()
    for client in (main, main, other, other):
        assert runner.ensure_image(client, "lab:busybox") == "hardlab/busybox:x"
    assert asked == [main, other]
