"""Scenario files: read one, validate the whole file and expand it into cases (defaults, parametrize,
inputs). Every problem is reported with file, line and key path; all problems of a file together.
One [[case]] table is read by `case`, its syscall ABIs by `abis`."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from hardlab.errors import Problem
from hardlab.spec.abis import check_probes, on_abis, parse_abis
from hardlab.spec.case import (
    CASE_KEYS,
    CASE_SHARED_KEYS,
    ID_PATTERN,
    merge_defaults,
    parametrize_rows,
    parse_case,
    parse_requires,
    parse_severity,
    parse_tags,
    rules_for_rows,
)
from hardlab.spec.checker import Checker, ScenarioError, display_path, toml_error_line
from hardlab.spec.container import INT64, check_container, normal_options
from hardlab.spec.model import Case, Input, Scenario
from hardlab.spec.seccomp import seccomp_problems
from hardlab.spec.tomlpos import MAX_NESTING, KeyPath, format_path, too_deep
from hardlab.spec.vocabulary import DEFAULT_SEVERITY, INPUT_KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1


def load(path: str | Path, root: Path | None = None) -> Scenario:
    """Parse and validate one scenario file; raise ScenarioError listing every problem."""
    path = Path(path)
    shown = display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(shown, None, "", f"cannot read the file: {exc}")]) from exc
    deep = too_deep(text)
    if deep is not None:
        raise ScenarioError([Problem(shown, deep, "", f"arrays and tables nest more than {MAX_NESTING} deep here; "
                                                      "no scenario needs that")])  # fmt: skip
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = toml_error_line(str(exc))
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {exc}")]) from exc
    except RecursionError:  # pragma: no cover - too_deep stops every nesting the parser recurses on
        raise ScenarioError([Problem(shown, None, "", "the file nests too deeply to read")]) from None
    check = Checker(shown, text, path.parent)
    if not _values_in_range(check, data):
        raise ScenarioError(check.problems)
    scenario = _scenario(data, path, check)
    if check.problems:
        raise ScenarioError(check.problems)
    assert scenario is not None
    return scenario


SCENARIO_KEYS = {"schema_version", "scenario", "case"}
OTHER_KINDS = {"course": "a course file", "profile": "a host profile"}  # other hardlab files, by their table


def not_a_scenario(path: Path) -> str:
    """Why a TOML file found in a folder is not a scenario file ('' when it may be one): it reads as TOML
    and has none of a scenario's keys (pyproject.toml, run options), or it is another hardlab file. A file
    that does not read at all is a candidate: loading it reports why."""
    try:
        text = path.read_text(encoding="utf-8")
        if too_deep(text) is not None:
            return ""
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return ""
    if {"scenario", "case"} & set(data):
        return ""
    for key, kind in OTHER_KINDS.items():
        if isinstance(data.get(key), dict):
            return kind
    return "" if SCENARIO_KEYS & set(data) else "no schema_version, [scenario] or [[case]]"


def _values_in_range(check: Checker, data: dict[str, Any]) -> bool:
    """TOML integers are 64-bit (Python's parser reads any size) and dotted keys can nest without brackets:
    both are reported here, before anything recurses over the data or hands a number to the engine."""
    todo: list[tuple[KeyPath, Any]] = [((), data)]
    deep = False
    while todo:
        path, value = todo.pop()
        if isinstance(value, int) and not isinstance(value, bool) and not INT64[0] <= value <= INT64[1]:
            check.error(path, f"{value} does not fit in a TOML integer (64 bits)")
        elif isinstance(value, (dict, list)):
            if len(path) > MAX_NESTING and not deep:
                check.error(path, f"keys and tables nest more than {MAX_NESTING} deep here; no scenario needs that")
                deep = True
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            todo += [((*path, k), v) for k, v in items]
    return not check.problems


def _scenario(data: dict[str, Any], path: Path, check: Checker) -> Scenario | None:
    check.keys(data, (), {"schema_version", "scenario", "inputs", "defaults", "case"})
    version = data.get("schema_version")
    if version is None:
        check.error(("schema_version",), f"is required (this hardlab reads schema_version = {SCHEMA_VERSION})")
    elif version != SCHEMA_VERSION or isinstance(version, bool):
        check.error(("schema_version",), f"unsupported version {version!r}; this hardlab reads {SCHEMA_VERSION}")

    meta = data.get("scenario")
    if not isinstance(meta, dict):
        check.error(("scenario",), "a [scenario] table is required (id, title, ...)")
        meta = {}
    check.keys(meta, ("scenario",), {"id", "title", "description", "tags", "requires", "references", "remediation",
                                     "severity"})  # fmt: skip
    sid = check.text(meta, "id", ("scenario",)) or path.stem
    if not ID_PATTERN.match(sid):
        check.error(("scenario", "id"), f"{sid!r} is not a valid id (letters, digits, . _ + -)")
    title = check.text(meta, "title", ("scenario",), required=True) or ""
    tags = parse_tags(check, meta, ("scenario",))
    requires = parse_requires(check, meta, ("scenario",))
    severity = parse_severity(check, meta, ("scenario",)) or DEFAULT_SEVERITY

    inputs = _inputs(check, data.get("inputs", {}), path)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        check.error(("defaults",), "must be a table")
        defaults = {}
    check.keys(defaults, ("defaults",), CASE_SHARED_KEYS)

    raw_cases = data.get("case")
    if not isinstance(raw_cases, list) or not raw_cases:
        check.error(("case",), "at least one [[case]] is required")
        raw_cases = []
    cases: list[Case] = []
    seen: dict[str, KeyPath] = {}
    for i, raw in enumerate(raw_cases):
        cpath: KeyPath = ("case", i)
        if not isinstance(raw, dict):
            check.error(cpath, "must be a table")
            continue
        check.keys(raw, cpath, CASE_KEYS)
        built: list[Case] = []
        abis = parse_abis(check, merge_defaults(defaults, raw), cpath)
        for expanded, params in parametrize_rows(check, raw, cpath):
            merged = merge_defaults(defaults, expanded)
            case = parse_case(check, merged, cpath, inputs, params)
            if case is None:
                continue
            case = dataclasses.replace(case, severity=parse_severity(check, merged, cpath) or severity)
            if case.id in seen:
                check.error((*cpath, "id"), f"duplicate case id {case.id!r} (first at {format_path(seen[case.id])})")
            seen[case.id] = cpath
            check_probes(check, case, cpath, abis)
            built.append(case)
        cases += [variant for case in rules_for_rows(check, built) for variant in on_abis(case, abis)]
    return Scenario(
        path=path,
        id=sid,
        title=title,
        description=check.text(meta, "description", ("scenario",)) or "",
        tags=tags,
        requires=requires,
        references=check.strings(meta, "references", ("scenario",)),
        remediation=check.text(meta, "remediation", ("scenario",)) or "",
        inputs=inputs,
        cases=tuple(cases),
        line=check.line(("scenario",)),
        severity=severity,
    )


def _inputs(check: Checker, raw: Any, base_file: Path) -> dict[str, Input]:
    if not isinstance(raw, dict):
        check.error(("inputs",), "must be a table of [inputs.NAME] tables")
        return {}
    out: dict[str, Input] = {}
    for name, spec in raw.items():
        ipath: KeyPath = ("inputs", name)
        if not isinstance(spec, dict):
            check.error(ipath, "must be a table with kind, default, description")
            continue
        check.keys(spec, ipath, {"kind", "default", "description"})
        kind = check.text(spec, "kind", ipath, required=True)
        if kind and kind not in INPUT_KINDS:
            check.error((*ipath, "kind"), f"unknown input kind {kind!r}; known: {', '.join(sorted(INPUT_KINDS))}")
        if "default" not in spec:
            check.error((*ipath, "default"), "is required (the value used when nothing overrides this input)")
        default = spec.get("default")
        if kind == "options" and default is not None and not isinstance(default, dict):
            check.error((*ipath, "default"), "an options input's default is a table of container options")
        elif kind == "options" and isinstance(default, dict):
            default = normal_options(default)
            check_container(check, default, (*ipath, "default"))
        elif kind in {"seccomp", "file", "apparmor"} and default is not None:
            if not isinstance(default, str):
                check.error((*ipath, "default"), "expected a path (string)")
            elif kind == "seccomp":
                found = seccomp_problems(base_file.parent / default, check.file, (*ipath, "default"), check, default)
                for problem in found:
                    check.problems.append(problem)
            elif not (base_file.parent / default).is_file():
                check.error((*ipath, "default"), f"file not found: {default} (relative to {base_file.parent})")
        out[name] = Input(name, kind or "text", default, spec.get("description", ""), base_file.parent)
    return out
