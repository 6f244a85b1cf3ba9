"""The audit's behavioural CIS 4.5 check end to end: a real content-trust lab on loopback, real `docker pull`s
through the audited engine, with the host's client setting on and off."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hardlab.audit import behave as audit_behave
from hardlab.audit.model import judge
from hardlab.audit.profile import HostProfile
from hardlab.audit.targets import DEFAULT_URL, Target
from hardlab.system.labtools import trust_lab_unavailable
from hardlab.trust import lab as trust

HARDENED = HostProfile(name="hardened", require=frozenset({"content-trust"}))
REFUSAL = '"No valid trust data for unsigned"'


def _engine_url() -> str:
    url = os.environ.get("DOCKER_HOST") or DEFAULT_URL
    done = subprocess.run(["docker", "-H", url, "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, text=True, timeout=15)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"the content-trust check needs a Docker Engine at {url}: {done.stderr.strip()}")
    return url


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Target:
    why_not = trust_lab_unavailable()
    if why_not is not None:
        pytest.skip(why_not)
    url = _engine_url()
    if not url.startswith("unix://"):
        pytest.skip(f"the audited engine must be a local socket (the lab's registry is on loopback), not {url}")
    # The process's DOCKER_HOST leads nowhere: every CLI call of the check must go to the target engine.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/hardlab-not-the-target.sock")
    return Target("main", url)


def _leftovers(url: str) -> set[str]:
    """This process's lab states and images (run ids `trust-<pid>-…`). Compared before and after a check: a
    session lab another test file of this process started (test_trust.py) may still be up, and is not the
    check's to remove."""
    mine = f"trust-{os.getpid()}-"
    states = [p.name for p in trust.state_root().glob(mine + "*")]
    ids = subprocess.run(["docker", "-H", url, "images", "-q", "--filter", "label=hardlab.run"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    if not ids:
        return set(states)
    runs = subprocess.run(
        ["docker", "-H", url, "image", "inspect", "--format", '{{index .Config.Labels "hardlab.run"}}', *set(ids)],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return set(states) | {run for run in runs if run.startswith(mine)}


def test_trust_on_refuses_the_unsigned_tag(target: Target, tmp_path: Path) -> None:
    etc = tmp_path / "environment"
    etc.write_text("DOCKER_CONTENT_TRUST=0\n")  # the process environment wins, as in the config check
    before = _leftovers(target.url)
    out = audit_behave.content_trust_pull(target, {"DOCKER_CONTENT_TRUST": "1"}, etc)
    assert out.state == "pass", out
    assert "(DOCKER_CONTENT_TRUST=1 in the audit's environment)" in out.evidence[0]
    assert "/hardlab/app:unsigned` " in out.evidence[0] and out.evidence[0].endswith(f"exit 1: {REFUSAL}")
    assert '/hardlab/app:signed` (signed tag) pulled, exit 0: "Digest: sha256:' in out.evidence[1]
    check, cis, title, remediation = audit_behave.TRUST_CHECK
    r = judge("main", check, cis, title, "behaviour", remediation, out, HARDENED, strict=True)
    assert (r.status, r.cis) == ("passed", "4.5")
    assert not _leftovers(target.url) - before


def test_trust_off_pulls_the_unsigned_tag_and_fails_where_required(target: Target, tmp_path: Path) -> None:
    etc = tmp_path / "environment"
    etc.write_text("PATH=/usr/bin:/bin\n")  # this host sets DOCKER_CONTENT_TRUST nowhere
    before = _leftovers(target.url)
    out = audit_behave.content_trust_pull(target, {}, etc)
    assert (out.state, out.feature) == ("missing", "content-trust"), out
    assert "(neither the audit's environment nor /etc/environment sets it)" in out.evidence[0]
    assert "/hardlab/app:unsigned` " in out.evidence[0]
    assert 'pulled the unsigned image, exit 0: "Digest: sha256:' in out.evidence[0]
    assert "/hardlab/app:signed` (signed tag) pulled, exit 0" in out.evidence[1]
    check, cis, title, remediation = audit_behave.TRUST_CHECK
    r = judge("main", check, cis, title, "behaviour", remediation, out, HARDENED, strict=False)
    assert (r.status, r.classification) == ("failed", "required-feature-missing"), r
    assert r.evidence[0].startswith("host profile 'hardened' requires 'content-trust'")
    assert not _leftovers(target.url) - before
