"""Host steps of `runner = "host"` cases: content-trust CLI steps (cli, push, notary) and `scan`.

They run on the host, not in a case container: content trust lives in the docker CLI, and a scan reads an
image without starting it. Each returns an `expect.Observed`, judged by the same `expect.evaluate` as
container steps. `${name}` placeholders come from the trust lab (`TrustRepos.placeholders`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab.core import expect
from hardlab.scan import run as scan
from hardlab.spec import Case, CliStep, HostAction, NotaryStep, PushStep, ScanStep
from hardlab.trust.lab import TrustLab, _fill


def run_trust_step(lab: TrustLab, values: Mapping[str, str], action: HostAction) -> expect.Observed:
    started = time.monotonic()
    if isinstance(action, CliStep):
        proc = lab.run_step(
            list(action.argv),
            dict(values),
            trust=action.content_trust,
            client=action.client,
            # TODO(lead): the step's own `timeout` is validated but never reached this call; kept at 60 s.
            timeout=60.0,
        )
        return expect.Observed(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if isinstance(action, PushStep):
        ref, variant = _fill(action.ref, dict(values)), _fill(action.variant, dict(values))
        lab.make_image(ref, variant)
        args = ["push", ref] if action.signed else ["push", "--disable-content-trust", ref]
        proc = lab.docker(*args, trust=action.signed)
        return expect.Observed(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if isinstance(action, NotaryStep) and action.action == "stop":
        lab.stop_notary()
        return expect.Observed(0, "notary-server stopped\n", "", time.monotonic() - started)
    raise ValueError(f"step {action.display!r} is not a trust-lab step")


def resolve_target(target: str, client: Any = None) -> str:
    """`lab:NAME` -> the built lab image; `lab:tools-slim` -> the slim variant; anything else unchanged."""
    if not target.startswith("lab:"):
        return target
    from hardlab.engine import images
    from hardlab.engine.client import connect
    from hardlab.scan.lab import ensure_slim

    client = client or connect()
    if target == "lab:tools-slim":
        return ensure_slim(client, images.ensure(client, "lab:tools"))
    return images.ensure(client, target)


def run_scan_step(
    step: ScanStep, base_dir: Path, client: Any = None, report_dir: str | Path | None = None
) -> expect.Observed:
    """`hardlab scan` for one step; the feed path is relative to the scenario file's folder."""
    started = time.monotonic()
    argv = [
        resolve_target(step.target, client),
        "--feed",
        str((base_dir / step.feed).resolve()),
        "--severity",
        step.severity,
        "--threshold",
        str(step.threshold),
        "--backend",
        step.backend,
    ]
    if report_dir is not None:
        argv += ["--report-dir", str(report_dir)]
    code, out, err = scan.run_cli(argv)
    return expect.Observed(code, out, err, time.monotonic() - started)


def run_host_case(case: Case, base_dir: Path, client: Any, lab: TrustLab | None, values: Mapping[str, str]) -> Any:
    """Every step of a host case in order, as a CaseResult the report and judge read like any other."""
    from hardlab.core.inputs import steps_for
    from hardlab.core.results import CaseResult, RunResult

    run = RunResult()
    for step in steps_for(case.steps, values):
        if step.host is None:
            raise ValueError(f"case {case.id}: step {step.name!r} is not a host step")
        if isinstance(step.host, ScanStep):
            seen = run_scan_step(step.host, base_dir, client)
        elif lab is None:
            raise ValueError(f"case {case.id}: a {step.kind} step needs uses = ['trust-lab']")
        else:
            seen = run_trust_step(lab, values, step.host)
        run.steps.append(expect.evaluate(step, seen))
    return CaseResult(case, "(host)", {}, run)


def host_facts(client: Any, **probe_options: Any) -> Any:
    """What this host can enforce (the engine probe) plus what host steps need: the content-trust lab."""
    from hardlab.engine.probe import Feature, probe
    from hardlab.trust.lab import unavailable_reason

    facts = probe(client, **probe_options)
    why_not = unavailable_reason()
    facts.features["trust-lab"] = Feature(
        why_not is None, why_not or "docker CLI present; registry and notary can run on loopback"
    )
    return facts
