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
    engines: tuple[Any, ...] = ()  # --hardlab-engine: every engine of the run (hardlab.engine.endpoints)
    engine: str = ""  # the name of the engine this process is bound to ("" : DOCKER_HOST's, the only one)

    @property
    def engine_marker(self) -> Path:
        """Exists once some process of this run talked to the engine: the controller then sweeps."""
        return config.temp_dir() / f"hardlab-run-{self.run_id}.engine"

    @property
    def host_cache(self) -> Path:
        """The host probe, shared by xdist workers through a file."""
        return host_cache_path(self.run_id, self.engine_index)

    @property
    def engine_index(self) -> int | None:
        names = [e.name for e in self.engines]
        return names.index(self.engine) if self.engine in names else None

    def engine_caches(self) -> list[Path]:
        """Every engine's host probe file of this run (one per engine when several)."""
        if not self.engines:
            return [self.host_cache]
        return [host_cache_path(self.run_id, n) for n in range(len(self.engines))]

    def host(self) -> dict[str, Any] | None:
        """The host probe of this process's engine (of several: the first engine's that was probed)."""
        for cache in [self.host_cache] if self.engine or not self.engines else self.engine_caches():
            if cache.is_file():
                data: dict[str, Any] = json.loads(cache.read_text())
                return data
        return None

    def engine_hosts(self) -> dict[str, dict[str, Any]]:
        """Of several engines: each one's host probe, by engine name (those that ran a case)."""
        out = {}
        for endpoint, cache in zip(self.engines, self.engine_caches(), strict=False):
            if cache.is_file():
                out[endpoint.name] = {"url": endpoint.url, "tls": endpoint.tls, **json.loads(cache.read_text())}
        return out


def host_cache_path(run_id: str, engine: int | None = None) -> Path:
    """Where run `run_id` keeps its engine's host probe (engine N's of several): a file written before the
    run is used as it is."""
    suffix = "" if engine is None else f"-e{engine}"
    return config.temp_dir() / f"hardlab-host-{run_id}{suffix}.json"


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
