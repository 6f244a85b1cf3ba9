"""expect_start and run_as as the spec reads them (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab import spec

pytestmark = pytest.mark.unit
DATA = Path(__file__).resolve().parents[1] / "e2e" / "data"


def _case(path: Path, cid: str) -> spec.Case:
    return next(c for c in spec.load(path).cases if c.id == cid)


def test_expect_start_drops_the_implied_requirements_and_only_then() -> None:
    path = DATA / "start-expect.toml"
    assert _case(path, "privileged-refused").requires == ()
    assert _case(path, "privileged-refused").start_error == ("unable to apply caps",)
    assert _case(path, "refused-any-error").start_error == ("",)  # any failed start
    assert _case(path, "apparmor-ignored").requires == ()
    assert _case(path, "implied-still-skips").requires == ("apparmor",)


def test_run_as_main_makes_the_step_the_entrypoint_judged_as_a_wait() -> None:
    case = _case(DATA / "run-as-main.toml", "shell-is-pid-1")
    (step,) = case.steps
    assert step.kind == "wait" and step.main
    assert case.container["entrypoint"] == ["/bin/sh", "-c", "echo $$; echo oops >&2; exit 3"]
    assert step.display == "echo $$; echo oops >&2; exit 3 (as the container's main process, PID 1)"
    assert case.control is not None and case.control.container["entrypoint"] == ["cat", "/proc/1/comm"]
    default = _case(DATA / "run-as-main.toml", "exec-is-not-pid-1")
    assert default.steps[0].kind == "exec" and "entrypoint" not in default.container
