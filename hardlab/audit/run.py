"""The nightly host-hardening audit of one or several Docker engines, in parallel: config checks read
from the engine and the host, behavioural checks proven by containers, judged against a host profile."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardlab.audit.model import (
    ENVIRONMENT,
    ERROR,
    Outcome,
    Result,
    exit_code,
    judge,
)
from hardlab.audit.profile import DEFAULT, HostProfile, ProfileError, ProfileProblem
from hardlab.audit.profile import as_dict as profile_dict
from hardlab.audit.profile import load as load_profile
from hardlab.audit.targets import DEFAULT_URL, Target, TargetError
from hardlab.core import records
from hardlab.core.text import printable, printable_data
from hardlab.engine import labels
from hardlab.errors import BadInput


@dataclass
class Options:
    """What to audit and how (the command line's arguments)."""

    host: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)
    strict: bool = False
    out: str = "reports/audit"
    config_only: bool = False
    pack: str | None = None
    timeout: int = 60
    cis: list[str] = field(default_factory=list)  # --cis: only these controls (or sections)
    skip_cis: list[str] = field(default_factory=list)  # --skip-cis
    parallel: int = 4  # hosts audited at once (each host's own checks run one after the other)


@dataclass
class Audit:
    """A finished audit: one result per check and host, harness problems, the reports written."""

    results: list[Result]
    harness: list[str]
    meta: dict[str, Any]
    paths: dict[str, Path]
    summary: str

    @property
    def exit_code(self) -> int:
        return exit_code(self.results, self.harness)


def selected(cis: str, args: Options) -> bool:
    """A check is audited under --cis / --skip-cis (its cis field may list several: '2.14, 5.26')."""
    return records.cis_selected([c.strip() for c in cis.split(",") if c.strip()], args.cis, args.skip_cis)


def load_profiles(specs: list[str]) -> dict[str, HostProfile]:
    """--profile values -> {host label or "" for every host: profile}."""
    out: dict[str, HostProfile] = {}
    for spec in specs:
        label, eq, path = spec.partition("=")
        if not eq or "/" in label:
            label, path = "", spec
        if label in out:
            message = f"a second profile for {label or 'all hosts'}"
            raise ProfileError([ProfileProblem(path, None, "--profile", message)])
        out[label] = load_profile(path)
    return out


def audit_host(
    target: Target, profile: HostProfile, strict: bool, run_id: str, owner: str, args: Options,
    pack: list[Any],
) -> tuple[list[Result], list[str], dict[str, Any]]:  # fmt: skip
    """Every check on one engine. Never raises: engine trouble becomes an environment result."""
    from hardlab.audit import behave as audit_behave
    from hardlab.audit.checks import CHECKS
    from hardlab.audit.gather import gather
    from hardlab.audit.targets import client_for

    results: list[Result] = []
    harness: list[str] = []
    meta: dict[str, Any] = {"url": target.url}

    def add(check: str, cis: str, title: str, kind: str, remediation: str, outcome: Outcome, took: float) -> None:
        if check != "engine.reachable" and not selected(cis, args):
            return
        results.append(judge(target.label, check, cis, title, kind, remediation, outcome, profile, strict, took))

    started = time.monotonic()
    try:
        client = client_for(target, timeout=args.timeout)
    except TargetError as exc:
        harness.append(f"{target.label}: {exc}")
        add("engine.reachable", "", "The engine answers the API", "engine", "Start the engine or fix --host.",
            Outcome.error(str(exc)), time.monotonic() - started)  # fmt: skip
        return results, harness, meta
    try:
        info_started = time.monotonic()
        try:
            facts = gather(client, target, run_id)
        except Exception as exc:  # engine timeout or API error mid-gather: environment, not a finding
            harness.append(f"{target.label}: gathering facts failed: {type(exc).__name__}: {exc}")
            add("engine.facts", "", "The engine's configuration can be read", "engine", "Check the engine's health.",
                Outcome.error(f"{type(exc).__name__}: {exc}"), time.monotonic() - info_started)  # fmt: skip
            return results, harness, meta
        meta.update({"server_version": facts.info.get("ServerVersion"), "name": facts.info.get("Name"),
                     "security_options": facts.security_options, "local": target.local,
                     "dockerd": facts.cmdline})  # fmt: skip
        gather_took = time.monotonic() - info_started
        for check in CHECKS:
            outcome, took = audit_behave.timed(check.run, facts, profile)
            took += gather_took / len(CHECKS)  # the shared gathering, spread over the checks that read it
            add(check.id, check.cis, check.title, check.kind, check.remediation, outcome, took)
        if args.config_only:
            return results, harness, meta
        feats = _features(client, target)
        run_labels = labels.for_run(run_id, owner, "host-audit userns bind mount")
        for b in pack:
            outcome, took = audit_behave.timed(audit_behave.run_behaviour, client, b, feats, run_id, owner)
            add(b.check, b.cis, b.title, "behaviour", b.remediation, outcome, took)
        check_id, cis, title, remediation = audit_behave.USERNS_CHECK
        outcome, took = audit_behave.timed(audit_behave.userns_bind_mount, client, target, feats, run_labels)
        add(check_id, cis, title, "behaviour", remediation, outcome, took)
        check_id, cis, title, remediation = audit_behave.TRUST_CHECK
        outcome, took = audit_behave.timed(audit_behave.content_trust_pull, target)
        add(check_id, cis, title, "behaviour", remediation, outcome, took)
    finally:
        _sweep(client, run_id)
    return results, harness, meta


def _features(client: Any, target: Target) -> dict[str, tuple[bool, str]]:
    """The host probe for the behavioural pack; if the probe itself fails, every requirement reads as
    'not probed' (a reasoned skip, or a failure where the profile requires the feature)."""
    from hardlab.audit import behave as audit_behave
    try:
        return audit_behave.features(client, target)
    except Exception as exc:
        print(f"hardlab audit: host probe of {target.label} failed: {exc}", file=sys.stderr)
        return {}


def _sweep(client: Any, run_id: str) -> None:

    from hardlab.engine.client import sweep_run

    try:
        sweep_run(client, run_id)
    except Exception as exc:  # the engine went away; its own restart removes nothing of ours, so say so
        print(f"hardlab audit: could not remove the audit's containers of run {run_id}: {exc}", file=sys.stderr)


def audit(args: Options) -> Audit:
    """Audit the hosts in parallel (at most `args.parallel` at once) and write the reports. Raises BadInput
    for a bad profile, pack or --host."""
    from hardlab import spec as spec_api
    from hardlab.audit import behave as audit_behave
    from hardlab.audit import report as audit_report
    from hardlab.audit import targets as audit_targets
    harness: list[str] = []
    try:
        profiles = load_profiles(args.profile)
    except ProfileError as exc:
        raise BadInput(f"bad host profile:\n{exc}") from exc
    try:
        pack = [] if args.config_only else audit_behave.load_pack(Path(args.pack) if args.pack else audit_behave.PACK)
        pack = [b for b in pack if selected(b.cis, args)]  # deselected behaviour checks start no container
    except spec_api.ScenarioError as exc:
        raise BadInput(f"bad scenario in the host-audit pack:\n{exc}") from exc
    specs = args.host or [os.environ.get("DOCKER_HOST") or DEFAULT_URL]
    targets: list[Target] = []
    for spec in specs:
        try:
            targets.append(audit_targets.parse(spec))
        except TargetError as exc:
            raise BadInput(str(exc)) from exc
    labels_seen = [t.label for t in targets]
    if len(set(labels_seen)) != len(labels_seen):
        raise BadInput(f"two --host values share a label: {labels_seen}")
    unknown = sorted(set(profiles) - {"", *labels_seen})
    if unknown:
        raise BadInput(f"--profile names unknown host label(s) {unknown}; hosts: {labels_seen}")
    host_profile = {t.label: profiles.get(t.label) or profiles.get("") or DEFAULT for t in targets}
    run_id, owner = labels.new_run_id(), labels.owner()
    started = time.time()
    results: list[Result] = []
    hosts_meta: dict[str, Any] = {}
    if args.parallel < 1:
        raise BadInput(f"--parallel must be at least 1, got {args.parallel}")
    workers = max(1, min(args.parallel, len(targets)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit") as pool:
        futures = {
            pool.submit(audit_host, t, host_profile[t.label], args.strict, run_id, owner, args, pack): t
            for t in targets
        }
        for future in concurrent.futures.as_completed(futures):
            target = futures[future]
            try:
                res, problems, meta = future.result()
            except Exception as exc:  # pragma: no cover - audit_host catches; this is the last line of defence
                res, problems, meta = [], [f"{target.label}: {type(exc).__name__}: {exc}"], {}
                res.append(Result(target.label, "engine.audit", "", "The audit ran", "engine", ERROR, ENVIRONMENT,
                                  [problems[0]], ""))  # fmt: skip
            results += res
            harness += problems
            hosts_meta[target.label] = meta
    order = {t.label: i for i, t in enumerate(targets)}
    results.sort(key=lambda r: (order.get(r.host, 99), r.kind != "engine", r.check))
    meta = {
        "run_id": run_id,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "started": started,
        "duration": round(time.time() - started, 2),
        "profile": profile_dict(profiles.get("") or DEFAULT),
        "host_profiles": {label: prof.name for label, prof in host_profile.items()},
        "strict": args.strict,
        "parallel": workers,
        "hosts": {t.label: t.url for t in targets},
        "engines": hosts_meta,
    }
    # An engine's answers are the audited host's words: shown, never acted on by a terminal or viewer.
    results = [dataclasses.replace(r, **{f.name: printable_data(getattr(r, f.name)) for f in dataclasses.fields(r)})
               for r in results]  # fmt: skip
    harness = [printable(h) for h in harness]
    meta = printable_data(meta)
    paths = audit_report.write_all(Path(args.out), results, meta, harness)
    history = json.loads(paths["history"].read_text())
    text = audit_report.summary_text(results, meta, harness, history)
    return Audit(results, harness, meta, paths, text)
