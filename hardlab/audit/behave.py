"""The behavioural half of the audit: the host-audit scenario pack run on each engine through the spine's
engine (control first, then the case), plus the userns-remap bind-mount check that needs the host side."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardlab import config, outcomes, spec
from hardlab.audit.model import Outcome
from hardlab.audit.targets import Target
from hardlab.core import verdict

PACK = config.DATA / "host-audit"
_CIS = re.compile(r"CIS Docker Benchmark(?: v[\d.]+)?\s+(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class Behaviour:
    check: str
    cis: str
    title: str
    remediation: str
    scenario: spec.Scenario
    case: spec.Case


def cis_of(scenario: spec.Scenario) -> str:
    """The CIS ids a scenario's references name ('2.14, 5.26')."""
    ids = [m.group(1) for ref in scenario.references for m in [_CIS.search(ref)] if m]
    return ", ".join(dict.fromkeys(ids))


def load_pack(folder: Path = PACK) -> list[Behaviour]:
    """Every case of the pack; a bad file raises spec.ScenarioError naming file, line and key."""
    out = []
    for path in sorted(folder.glob("*.toml")):
        sc = spec.load(path)
        for case in sc.cases:
            out.append(Behaviour(f"behaviour.{sc.id}/{case.id}", cis_of(sc), f"{sc.title} — {case.title}",
                                 sc.remediation, sc, case))  # fmt: skip
    return out


def features(client: Any, target: Target) -> dict[str, tuple[bool, str]]:
    """The spine's host probe, corrected for this target (the probe reads DOCKER_HOST, not our client)."""
    from hardlab.engine.probe import probe

    facts = probe(client, privileged_probe=False)
    out = {name: (f.ok, f.evidence) for name, f in facts.features.items()}
    out["local-engine"] = (target.local, f"{target.url} is {'a socket on this machine' if target.local else 'remote'}")
    return out


def run_behaviour(client: Any, b: Behaviour, feats: dict[str, tuple[bool, str]], run_id: str, owner: str) -> Outcome:
    from hardlab.core.inputs import bind
    from hardlab.engine.runner import run_case
    from hardlab.errors import HardlabError

    for need in dict.fromkeys((*b.scenario.requires, *b.case.requires)):
        ok, evidence = feats.get(need, (False, f"feature '{need}' was not probed"))
        if not ok:
            return Outcome.missing(need, f"host lacks '{need}' ({spec.FEATURES.get(need, need)}): {evidence}")
    try:
        values = bind(b.scenario, {})
        result = run_case(client, b.case, b.scenario.path.parent, run_id, owner, values, name_prefix="hardlab-audit")
    except HardlabError as exc:  # engine trouble, a missing image, an unusable input: not a finding
        return Outcome.error(f"harness: {exc}")
    if result.skip_reason:
        return Outcome("missing", (result.skip_reason,), "kernel-support")
    found = verdict.verdict(result)
    text = verdict.describe(b.scenario, result, found[1] if found else f"HELD: {b.case.title}",
                            references=False, remediation=False)  # fmt: skip
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if found is None:
        return Outcome.ok(*lines)
    classification = found[0]
    if classification == outcomes.BROKEN_CONTROL:
        return Outcome("broken-control", tuple(lines))
    if classification == outcomes.NOT_STARTED:
        return Outcome.error(*lines)
    return Outcome.fail(*lines)


USERNS_CHECK = ("behaviour.userns-bind-mount-owner", "2.9",
                "A file container root creates through a bind mount is owned by an unprivileged uid on the host",
                'Set "userns-remap": "default" in /etc/docker/daemon.json and restart dockerd.')  # fmt: skip


def userns_bind_mount(
    client: Any, target: Target, feats: dict[str, tuple[bool, str]], run_labels: dict[str, str]
) -> Outcome:
    """Container root writes a file into a host folder; the host must see a non-zero owner. The control
    (--userns=host) must see owner 0, so the probe demonstrably reports real owners."""
    from hardlab.engine import images
    from hardlab.engine.lifecycle import run_once
    from hardlab.errors import HarnessError
    ok, evidence = feats.get("userns-remap", (False, "not probed"))
    if not ok:
        return Outcome.missing("userns-remap", f"host lacks 'userns-remap': {evidence}")
    if not target.local:
        return Outcome.missing("local-engine", f"{target.url} is remote: the host side of a bind mount cannot be read")
    image = images.ensure(client, "lab:busybox")
    with _shared_dir() as folder:
        owners: dict[str, int] = {}
        maps: dict[str, str] = {}
        for run, extra in (("control", {"userns_mode": "host"}), ("case", {})):
            name = f"{run}.txt"
            try:
                code, out, err = run_once(
                    client, image, ["sh", "-c", f"cat /proc/self/uid_map; touch /mnt/{name}"], run_labels, 60, user="0",
                    volumes={str(folder): {"bind": "/mnt", "mode": "rw"}}, **extra,
                )  # fmt: skip
            except HarnessError as exc:
                return Outcome.error(f"[{run}] engine: {exc}")
            if code != 0:
                return Outcome.fail(f"[{run}] container root could not create /mnt/{name}: {err.encode()!r}")
            maps[run] = out.strip()
            owners[run] = (folder / name).stat().st_uid
    lines = [
        f"control (--userns=host): uid_map {maps['control']!r}; "
        f"host sees {folder}/control.txt owned by uid {owners['control']}",
        f"case (engine default): uid_map {maps['case']!r}; host sees {folder}/case.txt owned by uid {owners['case']}",
    ]
    if owners["control"] != 0:
        return Outcome("broken-control", ("BROKEN CONTROL: with --userns=host the file should be owned by 0", *lines))
    mapped = maps["case"].split()
    expected = int(mapped[1]) if len(mapped) >= 3 and mapped[0] == "0" else None
    if owners["case"] == 0:
        return Outcome.fail("container root wrote as host root (uid 0) through the bind mount", *lines)
    if expected is not None and owners["case"] != expected:
        return Outcome.fail(f"owner {owners['case']} is not the uid_map's host uid {expected}", *lines)
    return Outcome.ok(f"container root is host uid {owners['case']} (unprivileged)", *lines)


TRUST_CHECK = ("behaviour.content-trust-pull", "4.5",
               "A client with this host's content-trust setting refuses an unsigned tag and pulls a signed one",
               "export DOCKER_CONTENT_TRUST=1 for every shell and service that pulls (e.g. /etc/environment)."
               )  # fmt: skip
ETC_ENVIRONMENT = Path("/etc/environment")


def content_trust_pull(
    target: Target, env: dict[str, str] | None = None, etc_environment: Path = ETC_ENVIRONMENT
) -> Outcome:
    """CIS 4.5 by behaviour: a content-trust lab on loopback (registry + notary, a signed and an unsigned tag),
    then `docker pull` of each through the target engine with DOCKER_CONTENT_TRUST exactly as this host sets
    it (`env`, default the process environment, then /etc/environment). The lab is stopped in every case."""
    from hardlab.audit.checks.trust import CliRun, client_trust, trust_pull_verdict
    from hardlab.system import labtools
    from hardlab.trust import lab as trust
    from hardlab.trust import tools
    from hardlab.trust.repos import seed

    why_not = labtools.trust_lab_unavailable()
    if why_not is not None:
        return Outcome.missing("trust-lab", f"the content-trust lab cannot run here: {why_not}")
    if not target.local:
        return Outcome.missing("local-engine", f"{target.url} is remote: it cannot reach the lab's loopback registry")
    try:
        etc_text: str | None = etc_environment.read_text()
    except OSError:
        etc_text = None
    setting = client_trust(dict(os.environ if env is None else env), etc_text)
    try:
        lab = trust.launch()
    except tools.TrustUnavailable as exc:
        return Outcome.missing("trust-lab", f"the content-trust lab cannot run here: {exc}")
    try:
        _pin_engine(lab, target.url)  # seed, pulls and the image cleanup all go to the audited engine
        repos = seed(lab)
        cli = config.env("HARDLAB_DOCKER_CLI") or "docker"

        def pull(ref: str) -> CliRun:
            client_env = lab.env(trust=False, docker_config=lab.new_docker_config(f"audit-{ref.rsplit(':', 1)[1]}"))
            del client_env["DOCKER_CONTENT_TRUST"]  # the lab's own value: replaced by the host's (or unset)
            if setting.value is not None:
                client_env["DOCKER_CONTENT_TRUST"] = setting.value
            done = subprocess.run([cli, "pull", ref], env=client_env, capture_output=True, text=True, timeout=60)
            return CliRun(("docker", "pull", ref), done.returncode, done.stdout, done.stderr)

        control = pull(repos.signed.ref)
        case = pull(repos.unsigned.ref)
    finally:
        lab.stop()
    return trust_pull_verdict(setting, control, case, repos.unsigned.digest)


def _pin_engine(lab: Any, docker_host: str) -> None:
    """Every CLI call of `lab` talks to `docker_host` (TrustLab.env passes the process's DOCKER_HOST, and the
    audit's hosts run in parallel threads, so os.environ cannot be changed)."""
    lab_env = lab.env

    def env(trust: bool = True, docker_config: Path | None = None) -> dict[str, str]:
        out = dict(lab_env(trust, docker_config))
        for key in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):  # a unix socket: no TLS
            out.pop(key, None)
        out["DOCKER_HOST"] = docker_host
        return out

    lab.env = env


class _shared_dir:
    """A host folder remapped root can write to (sticky, world-writable), removed afterwards."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="hardlab-userns-"))
        os.chmod(self.path, 0o1777)
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def timed(fn: Any, *args: Any) -> tuple[Outcome, float]:
    started = time.monotonic()
    try:
        outcome = fn(*args)
    except Exception as exc:  # a check must never take the whole host down with it
        outcome = Outcome.error(f"harness: {type(exc).__name__}: {exc}")
    return outcome, time.monotonic() - started
