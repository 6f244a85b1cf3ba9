"""From a course and a submissions folder to a grading plan: one entry per student x assignment x check,
each with its staged inputs or the reason the submission is refused. No pytest, no docker.

Accepted files are copied into a grader-owned staging folder, so a student cannot swap a file (or a symlink)
between the check and its use, and containers only ever see the copies.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hardlab.grading import dockerfile, options
from hardlab.grading import submit as sub
from hardlab.grading.model import Assignment, Course
from hardlab.grading.submit import SubmissionError

PLAN_NAME = "hardlab-grading-plan.json"
RECORDS_NAME = "records.json"


@dataclass
class Entry:
    """One graded check of one student."""

    student: str
    assignment: str
    assignment_title: str
    scenario: str  # absolute path of the scenario file
    case: str
    title: str
    points: float
    hint: str
    inputs: dict[str, Any] = field(default_factory=dict)
    rejected: str = ""  # why the submission is refused (graded zero, nothing runs)
    skip: str = ""  # why this check cannot be graded on this host (not counted)
    build: dict[str, Any] | None = None  # context, base, instructions, input, key: built in limited containers
    engine_user: str = ""  # "non-root": the built image's user, as the engine sees it, must not be root

    @property
    def nodeid(self) -> str:
        return f"{self.student}::{self.assignment}::{self.case}"


@dataclass
class Plan:
    course_id: str
    course_title: str
    course_file: str
    limits: dict[str, Any]
    students: list[str]
    entries: list[Entry]
    notes: list[str]

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        data["entries"] = [Entry(**e) for e in data["entries"]]
        return cls(**data)


def make(
    course: Course,
    submissions: Path,
    stage: Path,
    lab_images: dict[str, str],
    only: str | None = None,
    host_file_exists: Any = os.path.exists,
) -> Plan:
    """Validate and stage every student's files. `lab_images` maps 'lab:NAME' to its local tag."""
    names, notes = sub.students(submissions)
    if only is not None:
        if only not in names:
            raise SubmissionError(f"no student folder {only!r} in {submissions}" +
                                  (f" (found: {', '.join(names[:10])})" if names else ""))  # fmt: skip
        names = [only]
    entries: list[Entry] = []
    for student in names:
        for assignment in course.assignments:
            entries += _entries(course, assignment, submissions / student, student, stage, lab_images, host_file_exists)
    return Plan(course.id, course.title, str(course.path), course.limits.__dict__.copy(), names, entries, notes)


def _entries(
    course: Course,
    assignment: Assignment,
    folder: Path,
    student: str,
    stage: Path,
    lab_images: dict[str, str],
    host_file_exists: Any,
) -> list[Entry]:
    skip = ""
    missing = [f for f in assignment.requires_host_files if not host_file_exists(f)]
    if missing:
        skip = (f"the grading host lacks {', '.join(missing)} (needed to grade {assignment.id}; "
                "e.g. install Debian's apparmor package for apparmor_parser)")  # fmt: skip
    inputs: dict[str, Any] = {}
    build = None
    rejected = ""
    if not skip:
        try:
            inputs, build = _stage(course, assignment, folder, student, stage / student / assignment.id, lab_images)
        except SubmissionError as exc:
            rejected = str(exc)
        except (OSError, UnicodeError, ValueError) as exc:  # anything else a hostile folder can provoke
            rejected = f"{student}: the submission could not be read ({exc.__class__.__name__}); nothing was graded"
    return [
        Entry(
            student=student,
            assignment=assignment.id,
            assignment_title=assignment.title,
            scenario=str(check.scenario.path.resolve()),
            case=check.case.id,
            title=check.case.title,
            points=check.points,
            hint=check.hint,
            inputs=inputs,
            rejected=rejected,
            skip=skip,
            build=build,
            engine_user=check.engine_user,
        )
        for check in assignment.checks
    ]


def _stage(
    course: Course, assignment: Assignment, folder: Path, student: str, dest: Path, lab_images: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str] | None]:
    limits = course.limits
    values: dict[str, Any] = {}
    for name, rel in sorted(assignment.inputs.items()):
        shown = f"{student}/{rel}"
        text = sub.read_text(folder, rel, shown, limits.max_file_bytes)
        kind = assignment.input_kind(name)
        if kind == "options":
            table = options.parse_options(text, shown)
            problems = options.option_problems(table, assignment.allow, limits)
            if problems:
                raise SubmissionError(f"{shown}: " + "; ".join(problems))
            values[name] = options.stage_option_files(table, folder, student, shown, dest / f"{name}.files", limits)
            continue
        if kind == "text":
            values[name] = text.strip()
            continue
        if kind == "seccomp":
            options.read_seccomp(text, shown)
        dest.mkdir(parents=True, exist_ok=True)
        staged = dest / f"{name}{Path(rel).suffix}"
        staged.write_text(text, encoding="utf-8")
        values[name] = str(staged.resolve())
    build: dict[str, Any] | None = None
    if assignment.build is not None:
        rel = assignment.build.dockerfile
        shown = f"{student}/{rel}"
        text = sub.read_text(folder, rel, shown, limits.max_file_bytes)
        instructions = dockerfile.parse_dockerfile(text, shown, set(lab_images))
        folder_rel = Path(rel).parent.as_posix()
        folder_shown = f"{student}/{folder_rel}".removesuffix("/.")
        files = sub.read_context(folder, folder_rel, folder_shown, limits.max_context_bytes,
                                 limits.max_context_files)  # fmt: skip
        context = dest / "context"
        if context.exists():
            shutil.rmtree(context)
        sub.write_context(files, context)  # the checked bytes, never the student's folder
        build = {
            "context": str(context.resolve()),
            "base": lab_images[instructions[0][2]],
            "instructions": [_normalised(*i) for i in instructions[1:]],
            "input": assignment.build.input,
            "key": sub.context_hash(files),
            "shown": shown,
        }
    return values, build


def _normalised(line: int, word: str, rest: str) -> list[Any]:
    """An instruction for the engine's builder: COPY in its JSON form, its sources already confined."""
    if word == "COPY":
        sources, dest = dockerfile.copy_args(rest, f"line {line}")
        rest = json.dumps([*sources, dest])
    return [line, word, rest]
