"""Host-side steps for the supply-chain scenarios: `scan`, and the content-trust CLI steps.

These steps run on the host, not in a case container: content trust lives in the docker CLI, and a scan
reads an image without starting it. Each step returns an `expect.Observed` and is judged by the same
`expect.evaluate` as container steps. Step tables (proposed schema extension, see labs/trust/proposed/):

    scan   = { target = "lab:tools", feed = "../../labs/advisories", severity = "High", threshold = 15 }
    cli    = ["docker", "pull", "${unsigned_ref}"]      content_trust = true (default), client = "fresh"
    push   = { ref = "${registry}/hardlab/demo:v1", variant = "demo", signed = true }
    notary = "stop"

plus the usual expectations (exit_code, stdout_contains, stderr_contains, ...). `${name}` placeholders come
from the trust lab (`TrustRepos.placeholders`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hardlab import expect, scan, schema
from hardlab.trust import TrustLab, _fill

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HOST_STEP_KINDS = ("scan", "cli", "push", "notary")
STEP_OPTIONS = {"name", "control", "timeout", "content_trust", "client"}
_TUPLE_KEYS = (
    "stdout_contains",
    "stdout_not_contains",
    "stdout_matches",
    "stderr_contains",
    "stderr_not_contains",
    "stderr_matches",
    "output_contains",
)


def kind_of(step: Mapping[str, Any]) -> str:
    kinds = [k for k in HOST_STEP_KINDS if k in step]
    if len(kinds) != 1:
        raise ValueError(f"a host step needs exactly one of {', '.join(HOST_STEP_KINDS)}; got {kinds or 'none'}")
    return kinds[0]


def to_step(raw: Mapping[str, Any], values: Mapping[str, str]) -> schema.Step:
    """A schema.Step whose expectation strings have the lab's placeholders filled in."""

    def fill(text: str) -> str:
        return _fill(text, dict(values))

    exit_code = raw.get("exit_code")
    codes = None if exit_code is None else tuple(exit_code if isinstance(exit_code, list) else [exit_code])
    exp = schema.Expectation(
        exit_code=codes,
        **{
            k: tuple(fill(s) for s in ([raw[k]] if isinstance(raw[k], str) else raw[k]))
            for k in _TUPLE_KEYS
            if k in raw
        },
    )
    if exp.is_empty():
        raise ValueError(f"step {raw.get('name') or kind_of(raw)!r} asserts nothing")
    kind = kind_of(raw)
    spec = raw[kind]
    shown = (kind, *(spec if isinstance(spec, list) else [str(spec)]))
    return schema.Step(
        name=str(raw.get("name", kind)),
        kind=kind,
        argv=tuple(fill(a) for a in shown),
        user=None,
        timeout=float(raw.get("timeout", 60)),
        control=bool(raw.get("control", False)),
        expect=exp,
        skip_when=None,
        line=None,
    )


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
        spec = {k: _fill(v, dict(values)) if isinstance(v, str) else v for k, v in raw["push"].items()}
        lab.make_image(spec["ref"], spec.get("variant", "default"))
        args = ["push", spec["ref"]] if spec.get("signed", True) else ["push", "--disable-content-trust", spec["ref"]]
        proc = lab.docker(*args, trust=bool(spec.get("signed", True)))
        return expect.Observed(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)
    if kind == "notary" and raw["notary"] == "stop":
        lab.stop_notary()
        return expect.Observed(0, "notary-server stopped\n", "", time.monotonic() - started)
    raise ValueError(f"step kind {kind!r} ({raw[kind]!r}) is not a trust-lab step")


def resolve_target(target: str, client: Any = None) -> str:
    """`lab:NAME` -> the built lab image; `lab:tools-slim` -> the slim variant; anything else unchanged."""
    if not target.startswith("lab:"):
        return target
    from hardlab import images
    from hardlab.engine import connect
    from hardlab.scan_lab import ensure_slim

    client = client or connect()
    if target == "lab:tools-slim":
        return ensure_slim(client, images.ensure(client, "lab:tools"))
    return images.ensure(client, target)


def run_scan_step(
    raw: Mapping[str, Any], base_dir: Path, client: Any = None, report_dir: str | Path | None = None
) -> expect.Observed:
    """`hardlab scan` for one step; the feed path is relative to the scenario file's folder."""
    started = time.monotonic()
    spec = raw["scan"]
    argv = [
        resolve_target(str(spec["target"]), client),
        "--feed",
        str((base_dir / spec["feed"]).resolve()),
        "--severity",
        str(spec.get("severity", "High")),
        "--threshold",
        str(spec.get("threshold", 0)),
        "--backend",
        str(spec.get("backend", "builtin")),
    ]
    if report_dir is not None:
        argv += ["--report-dir", str(report_dir)]
    code, out, err = scan.run_cli(argv)
    return expect.Observed(code, out, err, time.monotonic() - started)


def load_cases(path: Path) -> list[dict[str, Any]]:
    """The [[case]] tables of a host-step scenario file, each checked for a control (or a reason for none)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    cases = data.get("case") or []
    for case in cases:
        if not any(raw.get("control") for raw in case.get("step", [])) and not case.get("no_control_reason"):
            raise ValueError(f"{path}: case {case.get('id')!r} has no control step and no no_control_reason")
    return cases


def run_case(
    case: Mapping[str, Any], values: Mapping[str, str], observe: Callable[[Mapping[str, Any]], expect.Observed]
) -> list[str]:
    """Run every step of a case in order; the failed checks as readable lines (empty: the case held)."""
    failures = []
    for n, raw in enumerate(case["step"]):
        step = to_step(raw, values)
        result = expect.evaluate(step, observe(raw))
        role = "control step" if step.control else "step"
        failures += [
            f"{role} {n + 1} {step.name!r} ({step.display}): {c.what}: expected {c.expected}; "
            f"observed {expect.excerpt(c.observed)}"
            for c in result.checks
            if not c.ok
        ]
    return failures
