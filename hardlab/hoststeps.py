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
from hardlab.scan.lab import resolve_target
from hardlab.spec import schema
from hardlab.trust.lab import TrustLab
from hardlab.trust.placeholders import fill


def kind_of(step: Mapping[str, Any]) -> str:
    kinds = [k for k in schema.HOST_COMMAND_KEYS if k in step]
    if len(kinds) != 1:
        raise ValueError(f"a host step needs exactly one of {', '.join(schema.HOST_COMMAND_KEYS)}; got {kinds}")
    return kinds[0]


def run_trust_step(lab: TrustLab, values: Mapping[str, str], raw: Mapping[str, Any]) -> expect.Observed:
    started = time.monotonic()
    kind = kind_of(raw)
    if kind == "cli":
        proc = lab.run_step(
            list(raw["cli"]),
            dict(values),
            trust=bool(raw.get("content_trust", True)),
            client=str(raw.get("client", "default")),
            timeout=float(raw.get("timeout", 60)),
        )
        return expect.Observed(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if kind == "push":
        spec = {k: fill(v, dict(values)) if isinstance(v, str) else v for k, v in raw["push"].items()}
        lab.make_image(spec["ref"], spec.get("variant", "default"))
        args = ["push", spec["ref"]] if spec.get("signed", True) else ["push", "--disable-content-trust", spec["ref"]]
        proc = lab.docker(*args, trust=bool(spec.get("signed", True)))
        return expect.Observed(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if kind == "notary" and raw["notary"] == "stop":
        lab.stop_notary()
        return expect.Observed(0, "notary-server stopped\n", "", time.monotonic() - started)
    raise ValueError(f"step kind {kind!r} ({raw[kind]!r}) is not a trust-lab step")


def run_scan_step(
    raw: Mapping[str, Any], base_dir: Path, client: Any = None, report_dir: str | Path | None = None
) -> expect.Observed:
    """`hardlab scan` for one step; the feed path is relative to the scenario file's folder."""
    started = time.monotonic()
    spec = raw["scan"]
    done = scan.run_scan(
        resolve_target(str(spec["target"]), client),
        (base_dir / spec["feed"]).resolve(),
        severity=str(spec.get("severity", "High")),
        threshold=int(spec.get("threshold", 0)),
        backend=str(spec.get("backend", "builtin")),
        report_dir=report_dir,
    )
    return expect.Observed(done.exit_code, done.text, done.error, time.monotonic() - started)


def run_host_case(
    case: schema.Case, base_dir: Path, client: Any, lab: TrustLab | None, values: Mapping[str, str]
) -> Any:
    """Every step of a host case in order, as a CaseResult the report and judge read like any other."""
    from hardlab.core.inputs import steps_for
    from hardlab.engine.runner import CaseResult, RunResult

    run = RunResult()
    for step in steps_for(case.steps, values):
        table = dict(step.host or {})
        if step.kind == "scan":
            seen = run_scan_step(table, base_dir, client)
        elif lab is None:
            raise ValueError(f"case {case.id}: a {step.kind} step needs uses = ['trust-lab']")
        else:
            seen = run_trust_step(lab, values, table)
        run.steps.append(expect.evaluate(step, seen))
    return CaseResult(case, "(host)", {}, run)
