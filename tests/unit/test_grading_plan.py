"""The grading plan: one entry per student x check, refusals confined to the student and assignment they hit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hardlab.grading import course as grading_course
from hardlab.grading import plan as grading_plan
from hardlab.grading.model import Course
from hardlab.grading.submit import SubmissionError

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "labs" / "course"
LAB = {"lab:busybox": "hardlab/busybox:test", "lab:tools": "hardlab/tools:test"}


@pytest.fixture(scope="module")
def course() -> Course:
    return grading_course.load(COURSE / "course.toml", root=ROOT)


def make(course: Course, subs: Path, tmp: Path, **kw: object) -> grading_plan.Plan:
    return grading_plan.make(course, subs, tmp / "stage", LAB, host_file_exists=lambda p: True, **kw)  # type: ignore[arg-type]


def test_plan_for_the_sample_class(course: Course, tmp_path: Path) -> None:
    plan = make(course, COURSE / "submissions", tmp_path)
    assert len(plan.entries) == len(plan.students) * 15
    by = {(e.student, e.assignment, e.case): e for e in plan.entries}
    ref = by[("reference", "ex11-06", "deny-chown")]
    assert not ref.rejected and Path(ref.inputs["chown_profile"]).is_file()
    assert str(tmp_path / "stage") in ref.inputs["chown_profile"]  # containers only see the staged copy
    bad = by[("invalid-json", "ex11-06", "deny-fchownat")]
    assert bad.rejected.startswith("invalid JSON in seccomp profile invalid-json/seccomp/chown.json at line 6")
    assert not by[("invalid-json", "act11-01", "activity-deny-mkdir")].rejected
    build = by[("reference", "nonroot", "runs-as-non-root")].build
    assert build is not None and build["base"] == "hardlab/busybox:test"
    assert [i[1] for i in build["instructions"]] == ["RUN", "WORKDIR", "USER", "CMD"]
    assert by[("caps-privileged", "caps", "only-sys-time")].rejected.startswith(
        "caps-privileged/run/caps.toml: privileged is not allowed in this assignment"
    )
    assert plan.to_json() == grading_plan.Plan.from_json(plan.to_json()).to_json()


def test_missing_host_file_skips_with_its_name(course: Course, tmp_path: Path) -> None:
    plan = grading_plan.make(course, COURSE / "submissions", tmp_path / "s", LAB, "reference",
                             host_file_exists=lambda p: p != "/usr/sbin/apparmor_parser")  # fmt: skip
    skipped = [e for e in plan.entries if e.skip]
    assert {e.assignment for e in skipped} == {"ex11-05"}
    assert "the grading host lacks /usr/sbin/apparmor_parser" in skipped[0].skip


def test_one_student_only(course: Course, tmp_path: Path) -> None:
    plan = make(course, COURSE / "submissions", tmp_path, only="reference")
    assert plan.students == ["reference"]
    with pytest.raises(SubmissionError, match="no student folder 'nobody'"):
        make(course, COURSE / "submissions", tmp_path, only="nobody")


def test_a_swapped_file_after_staging_is_not_used(course: Course, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    shutil.copytree(COURSE / "submissions" / "reference", subs / "alice")
    plan = make(course, subs, tmp_path)
    staged = next(e for e in plan.entries if e.case == "deny-chown").inputs["chown_profile"]
    (subs / "alice" / "seccomp" / "chown.json").write_text("{}")
    assert '"chown"' in Path(staged).read_text()
