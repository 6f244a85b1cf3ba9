"""Host steps of `runner = "host"` cases: content-trust CLI steps (cli, push, notary) and `scan`.

They run on the host, not in a case container: content trust lives in the docker CLI, and a scan reads an
image without starting it. Each returns an `expect.Observed`, judged by the same `expect.evaluate` as
container steps. `${name}` placeholders come from the trust lab (`TrustRepos.placeholders`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab.core import expect
from hardlab.scan import run as scan
from hardlab.scan.lab import resolve_target
from hardlab.spec import Case, CliStep, HostAction, NotaryStep, PushStep, ScanStep
from hardlab.trust.lab import TrustLab
from hardlab.trust.placeholders import fill


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
        ref, variant = fill(action.ref, dict(values)), fill(action.variant, dict(values))
        lab.make_image(ref, variant)
        args = ["push", ref] if action.signed else ["push", "--disable-content-trust", ref]
        proc = lab.docker(*args, trust=action.signed)
        return expect.Observed(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if isinstance(action, NotaryStep) and action.action == "stop":
        lab.stop_notary()
        return expect.Observed(0, "notary-server stopped\n", "", time.monotonic() - started)
    raise ValueError(f"step {action.display!r} is not a trust-lab step")


def run_scan_step(
    step: ScanStep, base_dir: Path, client: Any = None, report_dir: str | Path | None = None
) -> expect.Observed:
    """`hardlab scan` for one step; the feed path is relative to the scenario file's folder."""
    started = time.monotonic()
    done = scan.run_scan(
        resolve_target(step.target, client),
        (base_dir / step.feed).resolve(),
        severity=step.severity,
        threshold=step.threshold,
        backend=step.backend,
        report_dir=report_dir,
    )
    return expect.Observed(done.exit_code, done.text, done.error, time.monotonic() - started)


def run_host_case(case: Case, base_dir: Path, client: Any, lab: TrustLab | None, values: Mapping[str, str]) -> Any:
    """Every step of a host case in order, as a CaseResult the report and judge read like any other."""
    from hardlab.core.inputs import steps_for
    from hardlab.core.results import CaseResult, RunResult

    run = RunResult(started_at=time.time())
    for step in steps_for(case.steps, values):
        if step.host is None:
            raise ValueError(f"case {case.id}: step {step.name!r} is not a host step")
        began = time.time()  # the wall-clock start, for the reports' timeline
        if isinstance(step.host, ScanStep):
            seen = run_scan_step(step.host, base_dir, client)
        elif lab is None:
            raise ValueError(f"case {case.id}: a {step.kind} step needs uses = ['trust-lab']")
        else:
            seen = run_trust_step(lab, values, step.host)
        run.steps.append(expect.evaluate(step, dataclasses.replace(seen, started_at=began)))
    return CaseResult(case, "(host)", {}, run)
