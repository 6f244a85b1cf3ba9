"""Course files: every error names the course file, its line and the key path; points add up exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.grading import course as grading_course
from hardlab.grading.limits import Limits, size_bytes
from hardlab.grading.model import Course, points_sum
from hardlab.grading.submit import confined_relpath
from hardlab.spec import ScenarioError

SCENARIO = """schema_version = 1
[scenario]
id = "mini"
title = "mini"
[inputs.profile]
kind = "seccomp"
default = "allow.json"
[inputs.opts]
kind = "options"
default = { pids_limit = 64 }
[[case]]
id = "uses-profile"
container = { security_opt = ["seccomp=${profile}"] }
[[case.step]]
shell = "true"
control = true
exit_code = 0
[[case.step]]
shell = "chown 1 f"
exit_code = 1
[[case]]
id = "uses-options"
use_inputs = ["opts"]
no_control_reason = "allowed path"
[[case.step]]
shell = "true"
exit_code = 0
[[case]]
id = "uses-nothing"
no_control_reason = "fixed"
[[case.step]]
shell = "true"
exit_code = 0
"""

GOOD = """schema_version = 1
[course]
id = "c"
title = "A course"
[[assignment]]
id = "a1"
scenario = "mini.toml"
inputs = { profile = "p.json" }
[[assignment.check]]
case = "uses-profile"
points = 1.5
hint = "refuse chown"
[[assignment]]
id = "a2"
scenario = "mini.toml"
inputs = { opts = "run.toml" }
allow = { cap_add = ["SYS_TIME"] }
[[assignment.check]]
case = "uses-options"
points = 2
hint = "set pids_limit"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mini.toml").write_text(SCENARIO)
    (tmp_path / "allow.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    return tmp_path


def load(folder: Path, text: str) -> Course:
    path = folder / "course.toml"
    path.write_text(text)
    return grading_course.load(path, root=folder)


def problems(folder: Path, text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ScenarioError) as info:
        load(folder, text)
    for p in info.value.problems:
        assert p.file == "course.toml" or p.file.endswith(".toml")
    return [(p.line, p.key, p.message) for p in info.value.problems]


def test_valid_course(folder: Path) -> None:
    course = load(folder, GOOD)
    assert [a.id for a in course.assignments] == ["a1", "a2"]
    assert course.assignments[0].inputs == {"profile": "p.json"}
    assert course.assignments[1].allow == {"cap_add": ("CAP_SYS_TIME",)}
    assert course.max_points == 3.5
    assert course.limits == Limits()


def test_unknown_case_names_line_and_key(folder: Path) -> None:
    found = problems(folder, GOOD.replace('case = "uses-options"', 'case = "uses-optoins"'))
    assert found == [(19, "assignment[1].check[0].case",
                      "no case 'uses-optoins' in scenario mini (did you mean 'uses-options'?)")]  # fmt: skip


def test_points_must_be_a_non_negative_number(folder: Path) -> None:
    found = problems(folder, GOOD.replace("points = 2", "points = -1").replace("points = 1.5", 'points = "x"'))
    assert (11, "assignment[0].check[0].points", "expected a number >= 0, got 'x'") in found
    assert (20, "assignment[1].check[0].points", "expected a number >= 0, got -1") in found


def test_input_not_declared_by_the_scenario(folder: Path) -> None:
    found = problems(folder, GOOD.replace('inputs = { profile = "p.json" }', 'inputs = { profil = "p.json" }'))
    keys = {k for _, k, _ in found}
    assert "assignment[0].inputs.profil" in keys
    # and the case now reads an input nobody fills: the instructor's default would be graded
    assert any("uses input 'profile'" in m for _, _, m in found)


def test_submitted_path_cannot_climb_out(folder: Path) -> None:
    found = problems(folder, GOOD.replace('"p.json"', '"../other/p.json"'))
    assert (8, "assignment[0].inputs.profile", "'../other/p.json' climbs out of the student's folder") in found
    found = problems(folder, GOOD.replace('"p.json"', '"/etc/passwd"'))
    assert "is absolute" in found[0][2]


def test_case_without_inputs_cannot_be_graded(folder: Path) -> None:
    found = problems(folder, GOOD.replace('case = "uses-profile"', 'case = "uses-nothing"'))
    assert found == [(10, "assignment[0].check[0].case",
                      "case 'uses-nothing' uses no input: every student would get the same result")]  # fmt: skip


def test_allow_list_keys_and_caps(folder: Path) -> None:
    found = problems(folder, GOOD.replace('allow = { cap_add = ["SYS_TIME"] }',
                                          'allow = { cap_add = ["SYS_TIMEX"], privileges = [true] }'))  # fmt: skip
    assert (17, "assignment[1].allow.cap_add", "unknown capability 'SYS_TIMEX'") in found
    assert (17, "assignment[1].allow.privileges", "unknown run option (did you mean 'privileged'?)") in found


def test_unknown_keys_and_missing_hint(folder: Path) -> None:
    text = GOOD.replace('hint = "refuse chown"', 'hnit = "refuse chown"').replace("[course]", "[course]\nowner = 1")
    found = problems(folder, text)
    assert (3, "course.owner", "unknown key (allowed: id, title)") in found
    assert (13, "assignment[0].check[0].hnit", "unknown key (did you mean 'hint'?)") in found
    assert (10, "assignment[0].check[0].hint", "is required") in found


def test_limits_are_checked(folder: Path) -> None:
    found = problems(folder, GOOD.replace("[course]", '[limits]\nmem_limit = "1m"\npids_limit = 0\n[course]'))
    assert (3, "limits.mem_limit", "must be at least 16m (a container needs memory to start)") in found
    assert (4, "limits.pids_limit", "must be positive, got 0") in found


def test_invalid_toml_and_missing_scenario(folder: Path) -> None:
    assert problems(folder, "schema_version = 1\n[course\n")[0][0] == 2
    text = GOOD.replace('scenario = "mini.toml"\ninputs = { opts', 'scenario = "nope.toml"\ninputs = { opts')
    found = problems(folder, text)
    assert found[0][:2] == (15, "assignment[1].scenario")
    assert "scenario file not found: nope.toml" in found[0][2]


def test_duplicate_assignment_id(folder: Path) -> None:
    found = problems(folder, GOOD.replace('id = "a2"', 'id = "a1"'))
    assert found == [(14, "assignment[1].id", "duplicate assignment id 'a1' (first at assignment[0])")]


def test_sample_course_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    course = grading_course.load(root / "labs/course/course.toml", root=root)
    assert course.max_points == 25
    assert [a.id for a in course.assignments] == ["ex11-06", "act11-01", "ex11-05", "caps", "pids", "nonroot"]


@pytest.mark.parametrize(("values", "total"), [([0.1, 0.2], 0.3), ([1, 2, 3.25], 6.25), ([], 0), ([0.01] * 100, 1.0)])
def test_points_sum_is_exact(values: list[float], total: float) -> None:
    assert points_sum(values) == total


def test_sizes() -> None:
    assert size_bytes("128m") == 128 * 1024**2
    assert size_bytes("1g") == 1024**3
    assert size_bytes(4096) == 4096
    with pytest.raises(ValueError):
        size_bytes("lots")


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a.json", True), ("dir/a.json", True), ("./a.json", True), ("../a", False), ("a/../../b", False),
     ("/etc/passwd", False), ("", False), ("a\\..\\b", False), ("a//b", False)],
)  # fmt: skip
def test_confined_relpath(value: str, ok: bool) -> None:
    assert (confined_relpath(value) is None) is ok


def test_build_log_and_context_limits(folder: Path) -> None:
    course = load(folder, GOOD.replace("[course]", "[limits]\nbuild_log_bytes = 0\nmax_context_files = 50\n[course]"))
    assert (course.limits.build_log_bytes, course.limits.max_context_files) == (0, 50)
    limits = "[limits]\nbuild_log_bytes = -1\nmax_context_files = 0\n[course]"
    found = problems(folder, GOOD.replace("[course]", limits))
    assert (3, "limits.build_log_bytes", "must be 0 or more, got -1") in found
    assert (4, "limits.max_context_files", "must be positive, got 0") in found


def test_engine_user_needs_a_build(folder: Path) -> None:
    found = problems(folder, GOOD.replace('hint = "refuse chown"', 'hint = "refuse chown"\nengine_user = "root"'))
    assert (13, "assignment[0].check[0].engine_user", "expected 'non-root', got 'root'") in found
    found = problems(folder, GOOD.replace('hint = "refuse chown"', 'hint = "refuse chown"\nengine_user = "non-root"'))
    assert (13, "assignment[0].check[0].engine_user",
            "applies to an image built from the submission; this assignment has no build") in found  # fmt: skip
