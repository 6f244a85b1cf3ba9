"""Course files: which scenario grades each assignment, which submitted file fills which input, points and
hints per check, and the hard limits every graded container runs under. Pure: no pytest, no docker.

    schema_version = 1
    [course]  id, title
    [limits]  mem_limit, pids_limit, nano_cpus, cpu_seconds, step_timeout, max_file_bytes,
              max_context_bytes, max_context_files, build_timeout, build_log_bytes, image_bytes
                                                        (all optional; a submission cannot raise them)
    [[assignment]]  id, title, scenario, inputs = { INPUT = "path/in/student/folder" },
                    allow = { OPTION = [allowed values] }, build = { dockerfile = "...", input = "..." },
                    requires_host_files = ["/usr/sbin/apparmor_parser"]
    [[assignment.check]]  case, points, hint, scenario (optional: another scenario than the assignment's),
                          engine_user = "non-root" (optional: the built image's user as the engine sees it)

Every problem names the course file, its line and the key path, like scenario files do. What a course
loads into is `hardlab.grading.model`; its [limits] table is read by `hardlab.grading.limits`.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab import spec
from hardlab.errors import Problem
from hardlab.grading.limits import parse_limits
from hardlab.grading.model import ENGINE_USER_VALUES, Assignment, Build, Check, Course, case_inputs
from hardlab.grading.submit import confined_relpath
from hardlab.spec import ScenarioError
from hardlab.spec import caps as capsmod
from hardlab.spec.tomlpos import KeyPath

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COURSE_SCHEMA_VERSION = 1
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
# Input kinds a submitted file can fill. `text` is filled with the file's content.
SUBMITTABLE_KINDS = {"seccomp", "apparmor", "file", "options", "text"}


def load(path: str | Path, root: Path | None = None) -> Course:
    """Parse and validate a course file and every scenario it names; raise ScenarioError listing all."""
    path = Path(path)
    shown = spec.display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(shown, None, "", f"cannot read the course file: {exc}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([Problem(shown, spec.toml_error_line(str(exc)), "", f"invalid TOML: {exc}")]) from exc
    check = spec.Checker(shown, text, path.parent)
    course = _course(data, path, check, root)
    if check.problems:
        raise ScenarioError(check.problems)
    assert course is not None
    return course


def _course(data: dict[str, Any], path: Path, check: spec.Checker, root: Path | None) -> Course | None:
    check.keys(data, (), {"schema_version", "course", "limits", "assignment"})
    version = data.get("schema_version")
    if version is None:
        check.error(("schema_version",), f"is required (this hardlab reads schema_version = {COURSE_SCHEMA_VERSION})")
    elif version != COURSE_SCHEMA_VERSION or isinstance(version, bool):
        check.error(("schema_version",), f"unsupported version {version!r}; this hardlab reads {COURSE_SCHEMA_VERSION}")
    meta = data.get("course")
    if not isinstance(meta, dict):
        check.error(("course",), "a [course] table is required (id, title)")
        meta = {}
    check.keys(meta, ("course",), {"id", "title"})
    cid = check.text(meta, "id", ("course",)) or path.stem
    if not _ID.match(cid):
        check.error(("course", "id"), f"{cid!r} is not a valid id (letters, digits, . _ + -)")
    title = check.text(meta, "title", ("course",), required=True) or ""
    limits = parse_limits(check, data.get("limits", {}))
    raw = data.get("assignment")
    if not isinstance(raw, list) or not raw:
        check.error(("assignment",), "at least one [[assignment]] is required")
        raw = []
    cache: dict[Path, spec.Scenario | None] = {}
    assignments: list[Assignment] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(raw):
        apath: KeyPath = ("assignment", n)
        if not isinstance(item, dict):
            check.error(apath, "must be a table")
            continue
        assignment = _assignment(check, item, apath, path, cache, root)
        if assignment is None:
            continue
        if assignment.id in seen:
            first = seen[assignment.id]
            check.error((*apath, "id"), f"duplicate assignment id {assignment.id!r} (first at assignment[{first}])")
        seen[assignment.id] = n
        assignments.append(assignment)
    return Course(path, cid, title, limits, tuple(assignments))



def _load_scenario(
    check: spec.Checker, ref: str, where: KeyPath, course_file: Path, cache: dict[Path, Any], root: Path | None
) -> spec.Scenario | None:
    file = (course_file.parent / ref).resolve()
    if file not in cache:
        if not file.is_file():
            check.error(where, f"scenario file not found: {ref} (relative to {course_file.parent})")
            cache[file] = None
        else:
            try:
                cache[file] = spec.load(file, root=root)
            except ScenarioError as exc:
                check.error(where, f"the scenario {ref} is invalid ({len(exc.problems)} problem(s) below)")
                check.problems.extend(exc.problems)
                cache[file] = None
    return cache[file]


def _assignment(
    check: spec.Checker,
    raw: dict[str, Any],
    path: KeyPath,
    course_file: Path,
    cache: dict[Path, Any],
    root: Path | None,
) -> Assignment | None:
    before = len(check.problems)
    check.keys(raw, path, {"id", "title", "scenario", "inputs", "allow", "build", "requires_host_files", "check"})
    aid = check.text(raw, "id", path, required=True) or ""
    if aid and not _ID.match(aid):
        check.error((*path, "id"), f"{aid!r} is not a valid id (letters, digits, . _ + -; no spaces)")
    title = check.text(raw, "title", path) or aid
    ref = check.text(raw, "scenario", path, required=True)
    scenario = _load_scenario(check, ref, (*path, "scenario"), course_file, cache, root) if ref else None
    checks = _checks(check, raw.get("check"), (*path, "check"), scenario, course_file, cache, root, raw.get("build"))
    scenarios = {id(s): s for s in [scenario, *(c.scenario for c in checks)] if s is not None}
    declared = {name: sc.inputs[name] for sc in scenarios.values() for name in sc.inputs}
    inputs = _input_map(check, raw.get("inputs", {}), (*path, "inputs"), declared)
    build = _build(check, raw.get("build"), (*path, "build"), declared, inputs)
    filled = set(inputs) | ({build.input} if build else set())
    for n, graded in enumerate(checks):
        used = case_inputs(graded.case)
        cpath: KeyPath = (*path, "check", n, "case")
        if not used:
            check.error(cpath, f"case {graded.case.id!r} uses no input: every student would get the same result")
        for name in sorted(used - filled):
            check.error(cpath, f"case {graded.case.id!r} uses input {name!r}, which this assignment does not fill "
                               "from the submission (the instructor's default would be graded)")  # fmt: skip
    allow = _allow(check, raw.get("allow", {}), (*path, "allow"))
    if allow and not any(declared[n].kind == "options" for n in inputs if n in declared):
        check.error((*path, "allow"), "an allow-list applies to a submitted run-options input; there is none here")
    host_files = check.strings(raw, "requires_host_files", path, allow_single=False)
    for n, name in enumerate(host_files):
        if not name.startswith("/"):
            check.error((*path, "requires_host_files", n), f"expected an absolute path, got {name!r}")
    if len(check.problems) > before or scenario is None:
        return None
    return Assignment(aid, title, scenario, inputs, allow, build, host_files, tuple(checks), check.line(path))



def _checks(
    check: spec.Checker,
    raw: Any,
    path: KeyPath,
    scenario: spec.Scenario | None,
    course_file: Path,
    cache: dict[Path, Any],
    root: Path | None,
    raw_build: Any = None,
) -> list[Check]:
    if not isinstance(raw, list) or not raw:
        check.error(path, "at least one [[assignment.check]] is required (case, points, hint)")
        return []
    out: list[Check] = []
    seen: set[tuple[int, str]] = set()
    for n, item in enumerate(raw):
        cpath: KeyPath = (*path, n)
        if not isinstance(item, dict):
            check.error(cpath, "must be a table with case, points, hint")
            continue
        check.keys(item, cpath, {"case", "points", "hint", "scenario", "engine_user"})
        engine_user = check.text(item, "engine_user", cpath) or ""
        if engine_user and engine_user not in ENGINE_USER_VALUES:
            check.error((*cpath, "engine_user"), f"expected {' or '.join(map(repr, ENGINE_USER_VALUES))}, "
                                                 f"got {engine_user!r}")  # fmt: skip
            engine_user = ""
        if engine_user and raw_build is None:
            check.error((*cpath, "engine_user"), "applies to an image built from the submission; this assignment "
                                                 "has no build")  # fmt: skip
            engine_user = ""
        own = scenario
        if "scenario" in item:
            ref = check.text(item, "scenario", cpath)
            own = _load_scenario(check, ref, (*cpath, "scenario"), course_file, cache, root) if ref else None
        case_id = check.text(item, "case", cpath, required=True)
        points = item.get("points")
        if "points" not in item:
            check.error((*cpath, "points"), "is required (a number >= 0)")
        elif isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            check.error((*cpath, "points"), f"expected a number >= 0, got {points!r}")
        elif round(points * 100) != points * 100:
            check.error((*cpath, "points"), f"at most two decimals, got {points!r}")
        hint = check.text(item, "hint", cpath, required=True)
        if own is None or not case_id:
            continue
        cases = {c.id: c for c in own.cases}
        if case_id not in cases:
            near = difflib.get_close_matches(case_id, list(cases), n=1)
            hint_txt = f" (did you mean {near[0]!r}?)" if near else f" (cases: {', '.join(cases)})"
            check.error((*cpath, "case"), f"no case {case_id!r} in scenario {own.id}{hint_txt}")
            continue
        if (id(own), case_id) in seen:
            check.error((*cpath, "case"), f"case {case_id!r} is graded twice in this assignment")
            continue
        seen.add((id(own), case_id))
        if isinstance(points, (int, float)) and not isinstance(points, bool) and points >= 0 and hint:
            out.append(Check(own, cases[case_id], float(points), hint, check.line(cpath), engine_user))
    return out



def _input_map(check: spec.Checker, raw: Any, path: KeyPath, declared: Mapping[str, spec.Input]) -> dict[str, str]:
    if not isinstance(raw, dict):
        check.error(path, "must be a table: { INPUT = 'file in the student folder' }")
        return {}
    out = {}
    for name, value in raw.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            check.error((*path, name), f"the assignment's scenarios declare no input {name!r} (declared: {known})")
            continue
        if declared[name].kind not in SUBMITTABLE_KINDS:
            check.error((*path, name), f"input kind {declared[name].kind!r} cannot be filled from a file")
            continue
        if not isinstance(value, str):
            check.error((*path, name), f"expected a path inside the student's folder, got {value!r}")
            continue
        why = confined_relpath(value)
        if why:
            check.error((*path, name), why)
            continue
        out[name] = value
    return out


def _build(
    check: spec.Checker, raw: Any, path: KeyPath, declared: Mapping[str, spec.Input], inputs: Mapping[str, str]
) -> Build | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        check.error(path, "expected { dockerfile = 'path/Dockerfile', input = 'image' }")
        return None
    check.keys(raw, path, {"dockerfile", "input"})
    dockerfile = check.text(raw, "dockerfile", path, required=True)
    target = check.text(raw, "input", path, required=True)
    if dockerfile and (why := confined_relpath(dockerfile)):
        check.error((*path, "dockerfile"), why)
        return None
    if target:
        if target not in declared:
            check.error((*path, "input"), f"the assignment's scenarios declare no input {target!r}")
            return None
        if declared[target].kind != "text":
            check.error((*path, "input"), f"input {target!r} is of kind {declared[target].kind!r}; an image is 'text'")
            return None
        if target in inputs:
            check.error((*path, "input"), f"input {target!r} is also filled from a file under inputs")
            return None
    if not dockerfile or not target:
        return None
    return Build(dockerfile, target)


def _allow(check: spec.Checker, raw: Any, path: KeyPath) -> dict[str, tuple[Any, ...]]:
    if not isinstance(raw, dict):
        check.error(path, "must be a table: { OPTION = [allowed values] }")
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    for key, values in raw.items():
        if key not in spec.CONTAINER_OPTIONS:
            near = difflib.get_close_matches(key, list(spec.CONTAINER_OPTIONS), n=1)
            check.error((*path, key), "unknown run option" + (f" (did you mean {near[0]!r}?)" if near else ""))
            continue
        if not isinstance(values, list) or not values:
            check.error((*path, key), f"expected a non-empty list of allowed values, got {values!r}")
            continue
        if key in {"cap_add", "cap_drop"}:
            bad = [v for v in values if not isinstance(v, str) or (v.upper() != "ALL" and not capsmod.is_known(v))]
            if bad:
                check.error((*path, key), f"unknown capability {bad[0]!r}")
                continue
            values = [capsmod.normalize(v) if v.upper() != "ALL" else "ALL" for v in values]
        out[key] = tuple(values)
    return out
