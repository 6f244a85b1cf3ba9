"""`hardlab audit`: the nightly host-hardening audit of one or several Docker engines, in parallel.

    hardlab audit [--host [LABEL=]DOCKER_HOST]... [--profile hardened.toml] [--strict] [--out reports/audit]
                  [--config-only] [--pack DIR] [--parallel N]

Exit code: 0 every check held; 1 a control failed; 2 the audit could not run completely (an engine
down, a check errored, a bad profile or pack) — never 0 on failure. Results are written either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardlab import config
from hardlab.audit.model import EXIT_HARNESS
from hardlab.audit.run import Audit, Options, audit
from hardlab.cli.args import annotate, new_parser
from hardlab.errors import BadInput
from hardlab.outcomes import Exit


def parser() -> argparse.ArgumentParser:
    """`hardlab audit`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab audit", (__doc__ or "").split("\n")[0])
    p.add_argument("--host", action="append", default=[], metavar="[LABEL=]DOCKER_HOST",
                   help="engine to audit (unix://, tcp://, ssh://, context:NAME); repeatable; "
                   "default $DOCKER_HOST")  # fmt: skip
    p.add_argument("--profile", action="append", default=[], metavar="[LABEL=]TOML",
                   help="host profile: what the host MUST enforce; LABEL= applies it to one --host only")
    p.add_argument("--strict", action="store_true", help="every skip (missing feature, waiver) is a failure")
    p.add_argument("--out", default="reports/audit", metavar="DIR", help="report folder (default reports/audit)")
    p.add_argument("--config-only", action="store_true", help="skip the behavioural pack (no containers started)")
    p.add_argument("--pack", default=None, metavar="DIR",
                   help="behavioural scenario folder (default: the package's own host-audit pack)")
    p.add_argument("--timeout", type=int, default=60, help="seconds an engine API call may take (default 60)")
    p.add_argument("--cis", action="append", default=[], metavar="ID",
                   help="audit only these CIS controls or sections (5.12, or 5 for all of 5.x); repeatable")
    p.add_argument("--skip-cis", action="append", default=[], metavar="ID", help="leave these CIS ids out")
    p.add_argument("--sarif", metavar="PATH", help="also write the failed and errored checks as SARIF 2.1.0")
    p.add_argument("--parallel", type=int, default=4, metavar="N",
                   help="hosts audited at once (default 4); each host's results are the same either way")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    return parser().parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    opts = Options(args.host, args.profile, args.strict, args.out, args.config_only, args.pack, args.timeout,
                   args.cis, args.skip_cis, args.parallel)  # fmt: skip
    try:
        done = audit(opts)
    except BadInput as exc:
        print(f"hardlab audit: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("hardlab audit: interrupted; the audit's containers were removed per host", file=sys.stderr)
        return Exit.INTERRUPTED
    show(done, args.quiet)
    pack = Path(args.pack) if args.pack else None
    if args.sarif:
        write_sarif(Path(args.sarif), done, pack)
    if config.on_github_actions():  # each failed check at its line in the run's log (reads the pack: only there)
        annotate(findings(done, pack))
    return done.exit_code


def write_sarif(path: Path, done: Audit, pack: Path | None) -> Path:
    from hardlab.core import sarif

    return sarif.write(path, sarif.document(findings(done, pack), tool="hardlab audit"))


def findings(done: Audit, pack: Path | None) -> list[Any]:
    """Failed checks (errors) and checks that could not be judged (warnings), on their host; a behavioural
    check points at its case's line in the pack's TOML file."""
    from hardlab import spec
    from hardlab.audit import behave
    from hardlab.core import sarif

    try:
        where = {b.check: (b.scenario.path, b.case.line) for b in behave.load_pack(pack or behave.PACK)}
    except spec.ScenarioError:
        where = {}
    found = []
    for r in done.results:
        if r.status not in ("failed", "error"):
            continue
        file, line = where.get(r.check, (None, None))
        found.append(sarif.Finding(
            rule=r.check, title=f"CIS {r.cis or '-'} {r.title}", level="error" if r.status == "failed" else "warning",
            message=f"[{r.host}] [{r.classification}] {r.evidence[0] if r.evidence else r.title}",
            file=config.relative(file) if file else "", line=line, logical=r.host, help=r.remediation,
            properties={"host": r.host, "cis": [c.strip() for c in r.cis.split(",") if c.strip()],
                        "classification": r.classification}))  # fmt: skip
    return found


def show(done: Audit, quiet: bool) -> None:
    """Each failed or errored check with its verdict line and failing expectations, then the summary."""
    results, text, paths = done.results, done.summary, done.paths
    if not quiet:
        for r in results:
            if r.status in ("failed", "error"):
                print(f"{r.status.upper():6} [{r.host}] CIS {r.cis or '-':7} {r.check} ({r.classification})")
                # the verdict line, then only the failing expectations (the reports hold everything)
                shown = [r.evidence[0], *[ln for ln in r.evidence[1:] if "FAIL" in ln or ln.startswith("  ")][:8]]
                for line in shown if r.kind == "behaviour" else r.evidence[:6]:
                    print(f"         {line.strip()}")
        print()
    print(text)
    print(f"reports: {', '.join(str(p) for p in paths.values())}")
