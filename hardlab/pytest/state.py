"""The run's state shared by the adapter's hooks and fixtures: its id, owner, summary and engine client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hardlab import config
from hardlab.engine.shared import Containers
from hardlab.errors import HarnessError
from hardlab.pytest.recorder import Summary


@dataclass
class RunState:
    run_id: str
    owner: str
    summary: Summary
    client: Any = None  # the docker-py client, made on first use
    containers: Containers | None = None  # made with the client: the gate and the shared containers
    prefetch: Any = None  # hardlab.pytest.prefetch.Prefetch, when this process runs cases ahead
    engine_down: str = ""  # why the engine stopped answering mid-run: the rest of the cases fail fast

    @property
    def engine_marker(self) -> Path:
        """Exists once some process of this run talked to the engine: the controller then sweeps."""
        return config.temp_dir() / f"hardlab-run-{self.run_id}.engine"

    @property
    def host_cache(self) -> Path:
        """The host probe, shared by xdist workers through a file."""
        return host_cache_path(self.run_id)

    def host(self) -> dict[str, Any] | None:
        if not self.host_cache.is_file():
            return None
        data: dict[str, Any] = json.loads(self.host_cache.read_text())
        return data


def host_cache_path(run_id: str) -> Path:
    """Where run `run_id` keeps its engine's host probe: a file written before the run is used as it is."""
    return config.temp_dir() / f"hardlab-host-{run_id}.json"


KEY = pytest.StashKey[RunState]()


def run_state(cfg: pytest.Config) -> RunState:
    return cfg.stash[KEY]


def unexpected(exc: BaseException) -> HarnessError:
    """Any exception hardlab did not raise on purpose (a docker-py ValueError, a bug), as harness trouble
    of the one case it happened in: a sentence, never a finding and never an INTERNALERROR."""
    text = " ".join(str(exc).split())[:300] or "(no message)"
    error = HarnessError(f"unexpected {type(exc).__name__} while running this case: {text}")
    error.__cause__ = exc
    return error


def harness_text(exc: BaseException, where: str = "") -> str:
    """The sentence of a harness error (an unexpected exception is named as one)."""
    error = exc if isinstance(exc, HarnessError) else unexpected(exc)
    return f"HARNESS ERROR (not a security finding): {error}" + (f"\ncase: {where}" if where else "")


def harness_failure(exc: HarnessError, where: str = "") -> BaseException:
    """A setup ERROR that reads as a sentence, never a traceback and never a failed security check.
    The cause stays attached, so a mode (grading) can still tell engine trouble from anything else."""
    text = harness_text(exc, where)
    failure = pytest.fail.Exception(text, pytrace=False)
    failure.__cause__ = exc
    return failure
