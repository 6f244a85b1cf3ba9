"""`hardlab grade SUBMISSIONS_DIR [--course course.toml] [-n auto] [--student NAME] [--out reports/grades]`

Exit status (hardlab's one table): 0 graded (whatever the scores: a student's failed check is a grade, not a
finding), 2 unusable course or arguments, or some checks could not be graded because of the harness (engine
trouble): regrade those.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardlab.cli.args import new_parser
from hardlab.errors import BadInput, HarnessError
from hardlab.grading.run import DEFAULT_COURSE, DEFAULT_OUT, Options, grade
from hardlab.outcomes import Exit
from hardlab.spec import ScenarioError

EXIT_UNGRADED = Exit.HARNESS  # some checks hit harness trouble: regrade them


def parser() -> argparse.ArgumentParser:
    """`hardlab grade`'s arguments (also read by `hardlab completion`)."""
    p = new_parser("hardlab grade", "grade students' submissions on real containers",
                        epilog="grade exits 0 once every submission is graded, whatever the scores.")
    p.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    p.add_argument("--course", type=Path, default=DEFAULT_COURSE, help=f"course file (default {DEFAULT_COURSE})")
    p.add_argument("-n", "--workers", default="auto", help="xdist workers: a number, 0 (no xdist) or auto")
    p.add_argument("--student", help="grade only this student's folder (check your work before handing in)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-student table, only the totals line")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    return parser().parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    opts = Options(args.submissions, args.course, str(args.workers), args.student, args.out)
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
    _print_table(graded.data, graded.elapsed, graded.submissions, args.out, args.quiet)
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
