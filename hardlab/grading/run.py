"""Grade a class: validate the course and every submission, stage, grade through pytest, write the reports.

Validates the course and every submission (on the host: reading files only), stages the accepted files,
then grades them through pytest and the spine's plugin: every case in real, labelled, limited containers,
spread over xdist workers. Writes reports/grades/: grades.csv and grades.json (scores: the same submissions
give the same bytes), feedback.json (each failure's expected vs observed and hint), students/NAME.md,
junit/NAME.xml and summary.html.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

from hardlab.engine import images
from hardlab.engine.client import connect
from hardlab.errors import BadInput, HarnessError
from hardlab.grading import course as grading_course
from hardlab.grading import plan as grading_plan
from hardlab.grading import points as grading_points
from hardlab.grading.plan import RECORDS_NAME

DEFAULT_COURSE = Path("labs/course/course.toml")
DEFAULT_OUT = Path("reports/grades")


@dataclass
class Options:
    """What to grade and where the reports go (the command line's arguments)."""

    submissions: Path
    course: Path = DEFAULT_COURSE
    workers: str = "auto"
    student: str | None = None
    out: Path = DEFAULT_OUT


@dataclass
class Graded:
    """A finished grading run: the report data, and how many checks the harness could not grade."""

    data: dict[str, Any]
    elapsed: float
    submissions: int
    ungraded: int
    pytest_exit: int


def grade(opts: Options, log: TextIO = sys.stderr) -> Graded:
    """Grade every submission. Raises BadInput (course file, submissions folder) or HarnessError (engine,
    images, a run that ended without results); checks the harness could not grade are counted, not lost."""
    course = grading_course.load(opts.course)
    if not opts.submissions.is_dir():
        raise BadInput(f"{opts.submissions}: not a folder of student submissions")
    work = Path(tempfile.mkdtemp(prefix="hardlab-grade-"))
    try:
        return _grade(opts, course, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def lab_images() -> dict[str, str]:
    return {images.PREFIX + name: images.tag_for(name) for name in images.recipe_names()}


def _grade(opts: Options, course: grading_course.Course, work: Path, log: TextIO) -> Graded:
    started = time.monotonic()
    plan = grading_plan.make(course, opts.submissions, work / "stage", lab_images(), opts.student)
    for note in plan.notes:
        print(f"hardlab grade: {opts.submissions}/{note}", file=log)
    if not plan.entries:
        raise BadInput(f"no student folders in {opts.submissions}")
    images.ensure_all(connect())
    plan_file = work / grading_plan.PLAN_NAME
    plan_file.write_text(plan.to_json(), encoding="utf-8")
    (work / "pytest.ini").write_text("[pytest]\naddopts =\n")
    code = _pytest(opts.workers, work, plan_file)
    records_file = work / RECORDS_NAME
    if not records_file.is_file():
        raise HarnessError(f"the grading run ended without results (pytest exit {code})")
    records = json.loads(records_file.read_text())
    data = write_reports(records, plan, opts.out, opts.student)
    errors = sum(r["outcome"] == "error" for r in records)
    missing = len(plan.entries) - len(records)
    submissions = len(plan.students) * len(course.assignments)
    return Graded(data, time.monotonic() - started, submissions, errors + missing, code)


def _pytest(workers: str, work: Path, plan_file: Path) -> int:
    import pytest

    autoloaded = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
        ep.name == "hardlab" for ep in entry_points(group="pytest11")
    )
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
