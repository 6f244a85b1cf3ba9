"""Grading the sample course on the real engine: each sample solution earns exactly its score, feedback says
why, hostile submissions are refused without touching other students, and two runs grade the same."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "labs" / "course"
FULL = {"ex11-06": 5, "act11-01": 6, "ex11-05": 3, "caps": 4, "pids": 3, "nonroot": 3}
# What each sample solution must score, per assignment (everything not listed: full marks).
EXPECTED: dict[str, dict[str, float]] = {
    "reference": {},
    "blocks-nothing": {"ex11-06": 0, "act11-01": 0},
    "blocks-everything": {"ex11-06": 0, "act11-01": 0},
    "invalid-json": {"ex11-06": 0},
    "misses-fchownat": {"ex11-06": 3},
    "apparmor-broken": {"ex11-05": 0},
    "caps-privileged": {"caps": 0},
    "caps-no-drop": {"caps": 1},
    "pids-loose": {"pids": 1},
    "pids-too-tight": {"pids": 2},
    "root-image": {"nonroot": 0},
    "pulls-image": {"nonroot": 0},
}


def grade(submissions: Path, out: Path, *extra: str, course: Path = COURSE / "course.toml") -> tuple[int, str]:
    cmd = [sys.executable, "-m", "hardlab.cli", "grade", str(submissions), "--course", str(course),
           "--out", str(out), "-n", "2", *extra]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ})
    return done.returncode, done.stdout + done.stderr


def scores(out: Path, name: str = "feedback.json") -> dict[str, dict[str, Any]]:
    data = json.loads((out / name).read_text())
    return {s["student"]: {a["id"]: a for a in s["assignments"]} for s in data["students"]}


def check(assignments: dict[str, Any], aid: str, case: str) -> dict[str, Any]:
    return next(c for c in assignments[aid]["checks"] if c["case"] == case)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Path:
    out = tmp_path_factory.mktemp("grades")
    code, output = grade(COURSE / "submissions", out)
    assert code == 0, output
    return out


def test_every_sample_solution_scores_exactly(graded: Path) -> None:
    got = scores(graded)
    assert sorted(got) == sorted(EXPECTED)
    for student, lost in EXPECTED.items():
        want = {aid: lost.get(aid, full) for aid, full in FULL.items()}
        assert {aid: a["score"] for aid, a in got[student].items()} == want, student
        assert all(a["max"] == FULL[aid] for aid, a in got[student].items())


def test_controls_decide_and_feedback_says_why(graded: Path) -> None:
    got = scores(graded)
    # blocking everything: the container cannot even start; it earns nothing and the student reads why
    blocked = check(got["blocks-everything"], "ex11-06", "deny-chown")
    assert blocked["classification"] == "container-did-not-start"
    assert "CONTAINER DID NOT START" in blocked["message"]
    assert "a profile that refuses everything (or execve, futex, ...) stops the container" in blocked["message"]
    # blocking nothing: the control passed, the blocked step shows expected vs observed, with the hint
    nothing = check(got["blocks-nothing"], "ex11-06", "deny-chown")
    assert "FAIL exit code: expected 1; observed 0" in nothing["message"]
    assert nothing["hint"].startswith("Remove the chown rules")
    fchownat = check(got["misses-fchownat"], "ex11-06", "deny-fchownat")
    assert fchownat["outcome"] == "failed" and "/usr/bin/chown 1001 test.txt" in fchownat["message"]


def test_refusals_name_the_students_file(graded: Path) -> None:
    got = scores(graded)
    bad_json = check(got["invalid-json"], "ex11-06", "deny-chown")
    assert bad_json["outcome"] == "rejected"
    assert "invalid JSON in seccomp profile invalid-json/seccomp/chown.json at line 6 column 7" in bad_json["message"]
    assert got["invalid-json"]["act11-01"]["score"] == 6  # the rest is still graded
    privileged = check(got["caps-privileged"], "caps", "only-sys-time")
    assert "caps-privileged/run/caps.toml: privileged is not allowed in this assignment" in privileged["message"]
    pull = check(got["pulls-image"], "nonroot", "runs-as-non-root")
    assert "pulls-image/image/Dockerfile: line 1: FROM debian:bookworm would need a pull" in pull["message"]
    parser = check(got["apparmor-broken"], "ex11-05", "profile-parses")
    assert "AppArmor parser error for /submitted/usr.bin.nmap" in parser["message"]


def test_reports_are_written(graded: Path) -> None:
    assert (graded / "grades.csv").read_text().startswith("student,assignment,check,points,earned,outcome")
    html = (graded / "summary.html").read_text()
    assert "Per-check pass rates" in html and "deny-fchownat" in html
    report = (graded / "students" / "misses-fchownat.md").read_text()
    assert "**22 / 24 points**" in report and "hint: chown has siblings" in report
    assert (graded / "junit" / "reference.xml").read_text().count("<testcase") == 14


HOSTILE_LIMITS = "[limits]\nbuild_timeout = 15\nstep_timeout = 15\n"


def hostile_course(tmp: Path) -> Path:
    """The sample course with short build/step limits, its scenario paths made absolute."""
    text = (COURSE / "course.toml").read_text()
    text = text.replace('scenario = "graders/', f'scenario = "{COURSE}/graders/')
    text = text.replace('scenario = "../../scenarios/', f'scenario = "{ROOT}/scenarios/')
    start = text.index("[limits]")
    end = text.index("[[assignment]]")
    path = tmp / "course.toml"
    path.write_text(text[:start] + HOSTILE_LIMITS + "\n" + text[end:])
    return path


def test_hostile_submission_is_refused_and_isolated(tmp_path: Path, docker_client: Any) -> None:
    subs = tmp_path / "subs"
    shutil.copytree(COURSE / "submissions" / "reference", subs / "reference")
    mallory = subs / "mallory"
    shutil.copytree(COURSE / "submissions" / "reference", mallory)
    (mallory / "seccomp" / "chown.json").unlink()
    (mallory / "seccomp" / "chown.json").symlink_to("/etc/passwd")
    (mallory / "seccomp" / "activity.json").write_bytes(b"\x7fELF\x00\x01")
    (mallory / "apparmor" / "usr.bin.nmap").unlink()
    (mallory / "run" / "caps.toml").write_text('volumes = ["/var/run/docker.sock:/var/run/docker.sock"]\n')
    (mallory / "image" / "Dockerfile").write_text("FROM lab:busybox\nRUN sleep 600\nUSER 1000\n")
    out = tmp_path / "out"
    code, output = grade(subs, out, course=hostile_course(tmp_path))
    assert code == 0, output
    got = scores(out)
    assert {aid: a["score"] for aid, a in got["reference"].items()} == FULL
    assert {aid: a["score"] for aid, a in got["mallory"].items()} == {
        "ex11-06": 0, "act11-01": 0, "ex11-05": 0, "caps": 0, "pids": 3, "nonroot": 0,
    }  # fmt: skip
    messages = {aid: a["checks"][0].get("message", "") for aid, a in got["mallory"].items()}
    assert "mallory/seccomp/chown.json: is a symlink" in messages["ex11-06"]
    assert "mallory/seccomp/activity.json: line 1: a binary file" in messages["act11-01"]
    assert "mallory/apparmor/usr.bin.nmap: file not found" in messages["ex11-05"]
    assert "volumes is not allowed in this assignment" in messages["caps"]
    assert "mallory/image/Dockerfile: line 2: RUN sleep 600 was stopped: still running when the time ran out " \
           "(the whole build may take 15s)" in messages["nonroot"]


def test_two_runs_grade_the_same(tmp_path: Path, graded: Path, docker_client: Any) -> None:
    subs = tmp_path / "subs"
    for name in ("reference", "blocks-everything", "misses-fchownat", "caps-no-drop"):
        shutil.copytree(COURSE / "submissions" / name, subs / name)
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        code, output = grade(subs, out)
        assert code == 0, output
    assert (first / "grades.json").read_bytes() == (second / "grades.json").read_bytes()
    assert (first / "grades.csv").read_bytes() == (second / "grades.csv").read_bytes()
    full = scores(graded)
    for student, assignments in scores(first).items():
        assert {a: v["score"] for a, v in assignments.items()} == {a: v["score"] for a, v in full[student].items()}


def test_one_student_checks_their_own_work(tmp_path: Path, docker_client: Any) -> None:
    out = tmp_path / "out"
    code, output = grade(COURSE / "submissions", out, "--student", "misses-fchownat")
    assert code == 0, output
    assert list(scores(out, "grades-misses-fchownat.json")) == ["misses-fchownat"]
    assert "hint: chown has siblings" in (out / "students" / "misses-fchownat.md").read_text()
    assert "misses-fchownat          22/24" in output
    assert not (out / "summary.html").exists()
