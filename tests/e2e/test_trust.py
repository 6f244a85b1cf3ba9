"""Docker Content Trust for real: a registry and a notary server on 127.0.0.1, the docker CLI in between.

Every rejection is paired with a control showing the same command works where it should. Messages asserted
here are the ones the CLI prints (observed with docker CLI 20.10 and 28.2).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from hardlab.trust.lab import TrustLab
from hardlab.trust.repos import TrustRepos, push

pytestmark = pytest.mark.usefixtures("trust_repos")


def _registry_digest(lab: TrustLab, repo: str, tag: str) -> str:
    """What the registry itself serves for a tag (no trust involved)."""
    path = repo.split("/", 1)[1]
    req = urllib.request.Request(
        f"http://{lab.registry}/v2/{path}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.headers["Docker-Content-Digest"]


def test_signed_push_reports_signature(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    assert f"Successfully signed {trust_repos.signed.ref}" in trust_repos.signed.output
    # control: the unsigned push went to the registry but wrote no trust data
    assert "Successfully signed" not in trust_repos.unsigned.output
    assert trust_repos.unsigned.digest != trust_repos.signed.digest


def test_pull_signed_tag_on_a_new_machine(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    client = trust_lab.new_docker_config("new-machine")
    proc = trust_lab.docker("pull", trust_repos.signed.ref, docker_config=client)
    assert proc.returncode == 0, proc.stderr
    # The CLI asked notary for the tag's digest and pulled that digest.
    assert f"Pull (1 of 1): {trust_repos.signed.ref}@{trust_repos.signed.digest}" in proc.stdout


def test_pull_unsigned_tag_rejected(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    client = trust_lab.new_docker_config("pull-unsigned")
    proc = trust_lab.docker("pull", trust_repos.unsigned.ref, docker_config=client)
    assert proc.returncode != 0
    assert "No valid trust data for unsigned" in proc.stderr
    # control / the seed's override: the same pull with --disable-content-trust works
    proc = trust_lab.docker("pull", "--disable-content-trust", trust_repos.unsigned.ref, docker_config=client)
    assert proc.returncode == 0, proc.stderr
    assert trust_repos.unsigned.digest in proc.stdout


def test_run_unsigned_tag_rejected(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    proc = trust_lab.docker("run", "--rm", "--label", "hardlab=1", trust_repos.unsigned.ref)
    assert proc.returncode == 125
    assert "No valid trust data for unsigned" in proc.stderr
    # control: the signed tag runs, and it is the signed image that runs
    proc = trust_lab.docker("run", "--rm", "--label", "hardlab=1", trust_repos.signed.ref)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "signed"


def test_repository_without_trust_data_rejected(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    client = trust_lab.new_docker_config("no-trust-data")
    repo = trust_repos.no_trust.ref.rsplit(":", 1)[0]
    proc = trust_lab.docker("pull", trust_repos.no_trust.ref, docker_config=client)
    assert proc.returncode != 0
    assert f"remote trust data does not exist for {repo}" in proc.stderr
    proc = trust_lab.docker("pull", "--disable-content-trust", trust_repos.no_trust.ref, docker_config=client)
    assert proc.returncode == 0, proc.stderr


def test_trust_inspect_lists_only_the_signed_tag(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    repo = trust_repos.signed.ref.rsplit(":", 1)[0]
    proc = trust_lab.docker("trust", "inspect", repo)
    assert proc.returncode == 0, proc.stderr
    (entry,) = json.loads(proc.stdout)
    assert entry["SignedTags"] == [
        {"SignedTag": "signed", "Digest": trust_repos.signed.digest.split(":")[1], "Signers": ["Repo Admin"]}
    ]
    assert {key["Name"] for key in entry["AdministrativeKeys"]} == {"Root", "Repository"}


def test_pull_by_digest_skips_the_trust_check(trust_lab: TrustLab, trust_repos: TrustRepos) -> None:
    client = trust_lab.new_docker_config("by-digest")
    repo = trust_repos.no_trust.ref.rsplit(":", 1)[0]
    # control: by tag, this repository is rejected under content trust ...
    assert trust_lab.docker("pull", trust_repos.no_trust.ref, docker_config=client).returncode != 0
    # ... by digest the CLI never asks notary: content trust is on and the unsigned image arrives anyway
    proc = trust_lab.docker("pull", f"{repo}@{trust_repos.no_trust.digest}", docker_config=client)
    assert proc.returncode == 0, proc.stderr
    assert "Pull (1 of 1)" not in proc.stdout
    assert f"Digest: {trust_repos.no_trust.digest}" in proc.stdout


def test_hijacked_tag_still_resolves_to_the_signed_digest(trust_lab: TrustLab) -> None:
    repo = trust_lab.repo("hijack")
    good = push(trust_lab, f"{repo}:v1", "signed-v1", signed=True)
    evil = push(trust_lab, f"{repo}:v1", "attacker", signed=False)  # same tag, new content, no signature
    assert _registry_digest(trust_lab, repo, "v1") == evil.digest  # the registry now serves the attacker's
    client = trust_lab.new_docker_config("hijack-victim")
    proc = trust_lab.docker("pull", f"{repo}:v1", docker_config=client)
    assert proc.returncode == 0, proc.stderr
    assert f"Pull (1 of 1): {repo}:v1@{good.digest}" in proc.stdout
    proc = trust_lab.docker("run", "--rm", "--label", "hardlab=1", f"{repo}:v1", docker_config=client)
    assert proc.stdout.strip() == "signed-v1"
    # control: without content trust the same tag gives the attacker's image
    proc = trust_lab.docker("pull", "--disable-content-trust", f"{repo}:v1", docker_config=client)
    assert f"Digest: {evil.digest}" in proc.stdout
    proc = trust_lab.docker("run", "--rm", "--label", "hardlab=1", f"{repo}:v1", trust=False)
    assert proc.stdout.strip() == "attacker"


def test_build_checks_its_from_image(trust_lab: TrustLab, trust_repos: TrustRepos, tmp_path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM {trust_repos.unsigned.ref}\nLABEL hardlab=1\n")
    tag = f"hardlab-trust-build:{trust_lab.run_id}"
    proc = trust_lab.docker("build", "-q", "-t", tag, "--label", f"hardlab.run={trust_lab.run_id}", str(tmp_path))
    assert proc.returncode != 0
    assert "No valid trust data for unsigned" in proc.stderr
    # control: the documented way to build lab images while content trust is on
    proc = trust_lab.docker(
        "build", "-q", "--disable-content-trust", "-t", tag, "--label", f"hardlab.run={trust_lab.run_id}", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr


def test_notary_down(fresh_trust_lab: TrustLab) -> None:
    lab = fresh_trust_lab
    signed = push(lab, f"{lab.repo('app')}:signed", "signed", signed=True)
    # control: while notary answers, a new machine can pull the signed tag
    earlier = lab.new_docker_config("earlier")
    assert lab.docker("pull", signed.ref, docker_config=earlier).returncode == 0
    lab.stop_notary()
    proc = lab.docker("pull", signed.ref, docker_config=lab.new_docker_config("after"))
    assert proc.returncode != 0
    assert "error contacting notary server" in proc.stderr
    # contrast: a machine that pulled before has the metadata cached and still pulls (and warns)
    proc = lab.docker("pull", signed.ref, docker_config=earlier)
    assert proc.returncode == 0, proc.stderr
    assert "using cached timestamp" in proc.stderr
