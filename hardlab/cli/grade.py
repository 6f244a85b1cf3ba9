"""`hardlab grade SUBMISSIONS_DIR [--course course.toml] [-n auto] [--student NAME] [--out reports/grades]
[--engine [NAME=]URL[,certs=DIR]]... [--engines-file FILE] [--per-engine N] [--batch N]`

With --engine (or --engines-file) the class is spread over those engines; an engine that stops answering
mid-run is dropped and its students are regraded on the others (reports/grades/engines.json says who).

Exit status (hardlab's one table): 0 graded (whatever the scores: a student's failed check is a grade, not a
finding), 2 unusable course or arguments, or some checks could not be graded because of the harness (engine
trouble): regrade those.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardlab.cli.args import add_engine_args, engines_or_none, new_parser, positive
from hardlab.errors import BadInput, HarnessError
from hardlab.grading.run import DEFAULT_COURSE, DEFAULT_OUT, Options, grade
from hardlab.grading.spread import Spread
from hardlab.outcomes import Exit
from hardlab.spec import ScenarioError

EXIT_UNGRADED = Exit.HARNESS  # some checks hit harness trouble: regrade them


def parser() -> argparse.ArgumentParser:
    """`hardlab grade`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab grade", "grade students' submissions on real containers",
                        epilog="grade exits 0 once every submission is graded, whatever the scores.")
    p.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    p.add_argument("--course", type=Path, default=DEFAULT_COURSE, help=f"course file (default {DEFAULT_COURSE})")
    p.add_argument("-n", "--workers", default="auto",
                   help="xdist workers on the one engine: a number, 0 (no xdist) or auto (with --engine: "
                   "see --per-engine)")
    p.add_argument("--student", help="grade only this student's folder (check your work before handing in)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-student table, only the totals line")
    add_engine_args(p, "grade on this engine (unix://, tcp://, ssh://; certs=DIR holds ca.pem, cert.pem, key.pem "
                       "for tcp+TLS); repeatable: the students are spread over the engines",
                    "with --engine: pytest processes grading at once on each engine (default 1)")  # fmt: skip
    p.add_argument("--batch", type=positive, default=8, metavar="N",
                   help="with --engine: most students an engine takes from the queue at a time (default 8)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    return parser().parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    engines = engines_or_none("hardlab grade", args)
    if engines is None:
        return Exit.HARNESS
    opts = Options(args.submissions, args.course, str(args.workers), args.student, args.out, engines,
                   args.per_engine, args.batch)  # fmt: skip
    try:
        graded = grade(opts)
    except ScenarioError as exc:
        print(f"hardlab grade: invalid course file:\n{exc}", file=sys.stderr)
        return 2
    except BadInput as exc:
        print(f"hardlab grade: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"hardlab grade: {exc}", file=sys.stderr)
        return EXIT_UNGRADED
    except KeyboardInterrupt:
        print("hardlab grade: interrupted; the grading containers were removed on every engine", file=sys.stderr)
        return Exit.INTERRUPTED
    _print_table(graded.data, graded.elapsed, graded.submissions, args.out, args.quiet)
    if graded.spread is not None:
        _print_engines(graded.spread, args.out)
    if graded.ungraded:
        print(f"hardlab grade: {graded.ungraded} check(s) could not be graded (harness trouble, not the students'; "
              f"pytest exit status {graded.pytest_exit}, its output is above): regrade", file=sys.stderr)  # fmt: skip
        return EXIT_UNGRADED
    return 0


def _print_table(data: dict[str, Any], elapsed: float, submissions: int, out: Path, quiet: bool) -> None:
    print()
    for st in [] if quiet else data["students"]:
        parts = "  ".join(f"{a['id']} {a['score']:g}/{a['max']:g}" for a in st["assignments"])
        print(f"{st['student']:<20} {st['score']:>6g}/{st['max']:<6g} {parts}")
    hardest = [r for r in data["checks"] if r["rate"] is not None][:3]
    if hardest:
        print("hardest checks: " + "; ".join(f"{r['assignment']}::{r['case']} {r['rate'] * 100:.0f}%" for r in hardest))
    per = elapsed / submissions if submissions else 0.0
    print(f"graded {submissions} submission(s) in {elapsed:.1f}s ({per:.2f}s per submission); reports in {out}/")


def _print_engines(spread: Spread, out: Path) -> None:
    """Each engine's share, the engines lost and the students regraded because of them."""
    for share in spread.shares:
        state = "" if share.status == "ok" else f"  LOST: {share.why}"
        print(f"engine {share.name:<16} {len(share.students):>4} student(s) {share.checks:>5} check(s) "
              f"busy {share.busy_s:.1f}s (images {share.images_s:.1f}s){state}")  # fmt: skip
    for note in spread.regrades:
        where = f"regraded on {note.graded_on}" if note.graded_on else "NOT regraded (no engine left)"
        print(f"regraded: {note.student}: engine {note.lost_on} {note.why}; {where}")
    if spread.ungraded:
        print(f"hardlab grade: not graded (every engine was lost): {', '.join(spread.ungraded)}", file=sys.stderr)
    print(f"engines report: {out / 'engines.json'}")
