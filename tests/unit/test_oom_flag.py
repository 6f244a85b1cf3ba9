"""A 137 exit whose OOM flag the engine records a moment later is read again, not judged at once."""

from __future__ import annotations

from typing import Any

from hardlab.engine import observe


class LaggingContainer:
    """Reports OOMKilled only from its `lag`-th reload on, as 20.10.24 did once in a pack run."""

    def __init__(self, lag: int) -> None:
        self.lag, self.reloads, self.attrs = lag, 0, {}  # type: ignore[var-annotated]

    def reload(self) -> None:
        self.reloads += 1
        self.attrs: dict[str, Any] = {"State": {"ExitCode": 137, "OOMKilled": self.reloads >= self.lag}}


def test_flag_that_trails_the_exit_is_seen() -> None:
    box = LaggingContainer(lag=3)
    assert observe.final_state(box, 137)["OOMKilled"] is True
    assert box.reloads == 3


def test_other_exit_codes_are_read_once() -> None:
    box = LaggingContainer(lag=3)
    assert observe.final_state(box, 0)["OOMKilled"] is False
    assert box.reloads == 1


def test_a_plain_sigkill_gives_up_after_the_bound(monkeypatch) -> None:
    monkeypatch.setattr(observe, "OOM_FLAG_WAIT", 0.3)
    box = LaggingContainer(lag=10**6)
    assert observe.final_state(box, 137)["OOMKilled"] is False
    assert 2 <= box.reloads <= 5
