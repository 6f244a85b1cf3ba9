"""pytest plugin: the content-trust lab (registry + notary on loopback) as fixtures.

Registered by the hardlab plugin (hardlab.pytest.plugin), so any project that installs hardlab has them.
`trust_lab` is one lab per session (per xdist worker: free ports keep workers apart); `trust_repos` pushes
the lab's images once: a signed tag, an unsigned tag and a repository that never had trust data.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from hardlab.trust.lab import TrustLab, launch, start_lab, sweep_dead
from hardlab.trust.repos import Pushed, TrustRepos, push, seed
from hardlab.trust.tools import TrustUnavailable


def _engine_answers() -> str | None:
    try:
        proc = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if proc.returncode == 0 else (proc.stderr.strip() or "docker version failed")


def _launch_or_skip() -> TrustLab:
    problem = _engine_answers()
    if problem:
        pytest.skip(f"content-trust lab needs a Docker Engine: {problem}")
    sweep_dead()  # labs left by a killed earlier run (their owner pid is gone)
    try:
        return launch()
    except TrustUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def trust_lab() -> Iterator[TrustLab]:
    lab = _launch_or_skip()
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def fresh_trust_lab() -> Iterator[TrustLab]:
    """A lab of its own, for tests that stop a server."""
    if _engine_answers():
        pytest.skip("content-trust lab needs a Docker Engine")
    try:
        with start_lab() as lab:
            yield lab
    except TrustUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def trust_repos(trust_lab: TrustLab) -> TrustRepos:
    return seed(trust_lab)


__all__ = ["Pushed", "TrustRepos", "fresh_trust_lab", "push", "trust_lab", "trust_repos"]
