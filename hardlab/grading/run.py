"""`hardlab grade SUBMISSIONS_DIR [--course course.toml] [-n auto] [--student NAME] [--out reports/grades]`

Validates the course and every submission (on the host: reading files only), stages the accepted files,
then grades them through pytest and the spine's plugin: every case in real, labelled, limited containers,
spread over xdist workers. Writes reports/grades/: grades.csv and grades.json (scores: the same submissions
give the same bytes), feedback.json (each failure's expected vs observed and hint), students/NAME.md,
junit/NAME.xml and summary.html.

Exit status: 0 graded (whatever the scores), 2 unusable course or arguments, 3 some checks could not be
graded because of the harness (engine trouble): regrade those.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

from hardlab.engine import images
from hardlab.grading import course as grading_course
from hardlab.grading import plan as grading_plan
from hardlab.grading import points as grading_points
from hardlab.grading.plan import RECORDS_NAME
from hardlab.grading.submit import SubmissionError
from hardlab.spec import ScenarioError

DEFAULT_COURSE = Path("labs/course/course.toml")
DEFAULT_OUT = Path("reports/grades")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hardlab grade", description="grade students' submissions on real containers")
    parser.add_argument("submissions", type=Path, help="folder with one sub-folder per student")
    parser.add_argument("--course", type=Path, default=DEFAULT_COURSE, help=f"course file (default {DEFAULT_COURSE})")
    parser.add_argument("-n", "--workers", default="auto", help="xdist workers: a number, 0 (no xdist) or auto")
    parser.add_argument("--student", help="grade only this student's folder (check your work before handing in)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-student table, only the totals line")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        course = grading_course.load(args.course)
    except ScenarioError as exc:
        print(f"hardlab grade: invalid course file:\n{exc}", file=sys.stderr)
        return 2
    if not args.submissions.is_dir():
        print(f"hardlab grade: {args.submissions}: not a folder of student submissions", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hardlab-grade-"))
    try:
        return _grade(args, course, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def lab_images() -> dict[str, str]:
    return {images.PREFIX + name: images.tag_for(name) for name in images.recipe_names()}


def _grade(args: argparse.Namespace, course: grading_course.Course, work: Path) -> int:
    started = time.monotonic()
    try:
        plan = grading_plan.make(course, args.submissions, work / "stage", lab_images(), args.student)
    except SubmissionError as exc:
        print(f"hardlab grade: {exc}", file=sys.stderr)
        return 2
    for note in plan.notes:
        print(f"hardlab grade: {args.submissions}/{note}", file=sys.stderr)
    if not plan.entries:
        print(f"hardlab grade: no student folders in {args.submissions}", file=sys.stderr)
        return 2
    if not _images_ready():
        return 3
    plan_file = work / grading_plan.PLAN_NAME
    plan_file.write_text(plan.to_json(), encoding="utf-8")
    (work / "pytest.ini").write_text("[pytest]\naddopts =\n")
    code = _pytest(args, work, plan_file)
    records_file = work / RECORDS_NAME
    if not records_file.is_file():
        print(f"hardlab grade: the grading run ended without results (pytest exit {code})", file=sys.stderr)
        return 3
    records = json.loads(records_file.read_text())
    data = write_reports(records, plan, args.out, args.student)
    elapsed = time.monotonic() - started
    _print_table(data, elapsed, len(plan.students) * len(course.assignments), args.out, args.quiet)
    errors = sum(r["outcome"] == "error" for r in records)
    missing = len(plan.entries) - len(records)
    if errors or missing:
        print(f"hardlab grade: {errors + missing} check(s) could not be graded (harness trouble, not the students'; "
              f"pytest exit status {code}, its output is above): regrade", file=sys.stderr)  # fmt: skip
        return 3
    return 0


def _images_ready() -> bool:
    return images.ensure_all("hardlab grade")


def _pytest(args: argparse.Namespace, work: Path, plan_file: Path) -> int:
    import pytest

    autoloaded = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
        ep.name == "hardlab" for ep in entry_points(group="pytest11")
    )
    workers = str(args.workers)
    pargs = [
        str(plan_file), "-c", str(work / "pytest.ini"), "--rootdir", str(work), "-p", "no:cacheprovider",
        *([] if autoloaded else ["-p", "hardlab.pytest.plugin"]), "-p", "hardlab.grading.plugin",
        *(["-n", workers] if workers not in {"0", "1"} else []), "-q",
        "--no-header", "-rN", "--tb=no",
    ]  # fmt: skip
    return int(pytest.main(pargs))


def write_reports(records: list[dict], plan: grading_plan.Plan, out: Path, only: str | None = None) -> dict:
    """Every report file; a one-student run leaves the other students' files alone."""
    course = {"id": plan.course_id, "title": plan.course_title}
    data = grading_points.grades(records, course)
    out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{only}" if only else ""
    (out / f"grades{suffix}.json").write_text(grading_points.to_json(data))
    (out / f"feedback{suffix}.json").write_text(grading_points.to_json(data, feedback=True))
    (out / f"grades{suffix}.csv").write_text(grading_points.to_csv(data))
    if not only:
        (out / "summary.html").write_text(grading_points.summary_html(data))
    for folder in ("students", "junit"):
        (out / folder).mkdir(exist_ok=True)
    for student in data["students"]:
        name = student["student"]
        (out / "students" / f"{name}.md").write_text(grading_points.student_report(student, course))
        (out / "junit" / f"{name}.xml").write_text(grading_points.junit(student))
    return data


def _print_table(data: dict, elapsed: float, submissions: int, out: Path, quiet: bool) -> None:
    print()
    for st in [] if quiet else data["students"]:
        parts = "  ".join(f"{a['id']} {a['score']:g}/{a['max']:g}" for a in st["assignments"])
        print(f"{st['student']:<20} {st['score']:>6g}/{st['max']:<6g} {parts}")
    hardest = [r for r in data["checks"] if r["rate"] is not None][:3]
    if hardest:
        print("hardest checks: " + "; ".join(f"{r['assignment']}::{r['case']} {r['rate'] * 100:.0f}%" for r in hardest))
    per = elapsed / submissions if submissions else 0.0
    print(f"graded {submissions} submission(s) in {elapsed:.1f}s ({per:.2f}s per submission); reports in {out}/")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
