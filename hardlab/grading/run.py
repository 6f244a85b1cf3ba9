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
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

from hardlab.engine import images
from hardlab.engine.client import EngineError, connect, connect_endpoint
from hardlab.engine.endpoints import Endpoint
from hardlab.errors import BadInput, HarnessError
from hardlab.grading import course as grading_course
from hardlab.grading import plan as grading_plan
from hardlab.grading import points as grading_points
from hardlab.grading import spread as grading_spread
from hardlab.grading.model import Course
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
    engines: list[Endpoint] = field(default_factory=list)  # several engines: the class is spread over them
    per_engine: int = 1  # pytest processes grading at once on each engine
    batch: int = 8  # most students one engine takes at a time


@dataclass
class Graded:
    """A finished grading run: the report data, and how many checks the harness could not grade."""

    data: dict[str, Any]
    elapsed: float
    submissions: int
    ungraded: int
    pytest_exit: int
    spread: grading_spread.Spread | None = None  # what each engine did, when several graded


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


def _grade(opts: Options, course: Course, work: Path, log: TextIO) -> Graded:
    started = time.monotonic()
    plan = grading_plan.make(course, opts.submissions, work / "stage", lab_images(), opts.student)
    for note in plan.notes:
        print(f"hardlab grade: {opts.submissions}/{note}", file=log)
    if not plan.entries:
        raise BadInput(f"no student folders in {opts.submissions}")
    if opts.engines:
        return _grade_spread(opts, plan, work, started, log)
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


def _grade_spread(opts: Options, plan: grading_plan.Plan, work: Path, started: float, log: TextIO) -> Graded:
    """The class spread over `opts.engines`: each must answer first (an address that does not is bad input)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(opts.engines)) as pool:
        futures = [pool.submit(connect_endpoint, e, 60) for e in opts.engines]
        clients, problems = [], []
        for endpoint, future in zip(opts.engines, futures, strict=True):
            try:
                clients.append((endpoint, future.result()))
            except EngineError as exc:
                where = endpoint.name if endpoint.name == endpoint.url else f"{endpoint.name} ({endpoint.url})"
                cause = " ".join(str(exc.__cause__ or exc).split())[:240]
                problems.append(f"engine {where} does not answer: {cause}")
    if problems:
        raise BadInput("; ".join(problems) + ". Fix or leave out that --engine before grading")
    done = grading_spread.grade(plan, clients, work, lambda folder, plan_file: pytest_args("0", folder, plan_file),
                                opts.per_engine, opts.batch, log)  # fmt: skip
    data = write_reports(done.records, plan, opts.out, opts.student)
    grading_spread.write_report(done, opts.out)
    errors = sum(r["outcome"] == "error" for r in done.records)
    missing = len(plan.entries) - len(done.records)
    submissions = len(plan.students) * len({e.assignment for e in plan.entries})
    return Graded(data, time.monotonic() - started, submissions, errors + missing, 0, done)


def pytest_args(workers: str, work: Path, plan_file: Path) -> list[str]:
    """The pytest command line that grades `plan_file` (its ini and rootdir in `work`)."""
    autoloaded = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
        ep.name == "hardlab" for ep in entry_points(group="pytest11")
    )
    return [
        str(plan_file), "-c", str(work / "pytest.ini"), "--rootdir", str(work), "-p", "no:cacheprovider",
        *([] if autoloaded else ["-p", "hardlab.pytest.plugin"]), "-p", "hardlab.grading.plugin",
        *(["-n", workers] if workers not in {"0", "1"} else []), "-q",
        "--no-header", "-rN", "--tb=no",
    ]  # fmt: skip


def _pytest(workers: str, work: Path, plan_file: Path) -> int:
    import pytest

    return int(pytest.main(pytest_args(workers, work, plan_file)))


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
