"""Scenario files: read one, validate the whole file and expand it into cases (defaults, parametrize,
inputs). Every problem is reported with file, line and key path; all problems of a file together."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab import config
from hardlab.errors import Problem
from hardlab.spec.checker import Checker, ScenarioError, display_path, toml_error_line
from hardlab.spec.container import CONTAINER_OPTIONS, INT64, check_container, implied_requirements, normal_options
from hardlab.spec.model import Case, Input, Scenario, Step
from hardlab.spec.placeholders import TRUST_PLACEHOLDERS, placeholders, substitute
from hardlab.spec.prober import known_syscalls
from hardlab.spec.seccomp import seccomp_problems
from hardlab.spec.steps import PROBE, parse_control, parse_steps
from hardlab.spec.tomlpos import MAX_NESTING, KeyPath, format_path, too_deep
from hardlab.spec.vocabulary import DEFAULT_SEVERITY, FEATURES, INPUT_KINDS, RUNNERS, SEVERITIES, USES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1
LAB_IMAGE_PREFIX = "lab:"
DEFAULT_TIMEOUT = 10.0
CASE_SHARED_KEYS = {
    "runner",
    "uses",
    "tags", "requires", "image", "timeout", "container", "use_inputs", "start_error", "no_control_reason", "abis",
    "severity", "expect_start", "run_as",
}  # fmt: skip
# expect_start: what the case expects of its container's start. Written at all, it is the assertion, so the
# host features its options imply (privileged, apparmor, ...) are not added to its requires.
EXPECT_START = ("starts", "fails")
# run_as: how a step's command runs: exec'd into hardlab's keep-alive (`sleep infinity` is PID 1), or as the
# container's main process (PID 1; exit code and output from the container itself).
RUN_AS = ("exec", "main")
# Syscall ABIs a case's `syscall` steps can be made through (hardlab-probe --abi); x86_64 is the native one.
ABIS = {"x86_64": None, "i386": "i386-abi", "x32": "x32-abi"}  # abi -> the host feature it needs
CASE_KEYS = {"id", "title", "step", "control", "parametrize", *CASE_SHARED_KEYS}
# A tag becomes a pytest marker: `-m` reads letters, digits, _ and - in a name (`-m no-root`).
TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


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
    if not _ID.match(sid):
        check.error(("scenario", "id"), f"{sid!r} is not a valid id (letters, digits, . _ + -)")
    title = check.text(meta, "title", ("scenario",), required=True) or ""
    tags = _tags(check, meta, ("scenario",))
    requires = _requires(check, meta, ("scenario",))
    severity = _severity(check, meta, ("scenario",)) or DEFAULT_SEVERITY

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
        abis = _abis(check, _merge(defaults, raw), cpath)
        for expanded, params in _parametrize(check, raw, cpath):
            merged = _merge(defaults, expanded)
            case = _case(check, merged, cpath, inputs, params)
            if case is None:
                continue
            case = dataclasses.replace(case, severity=_severity(check, merged, cpath) or severity)
            if case.id in seen:
                check.error((*cpath, "id"), f"duplicate case id {case.id!r} (first at {format_path(seen[case.id])})")
            seen[case.id] = cpath
            _check_probes(check, case, cpath, abis)
            built.append(case)
        cases += [variant for case in _rules_for_rows(check, built) for variant in _on_abis(case, abis)]
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


# A Docker image reference (distribution/reference): [host[:port]/]path[:tag][@digest], the path lowercase.
_REFERENCE = re.compile(
    r"^(?:(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$"
)


def image_problem(image: str) -> str:
    """Why `image` cannot be run ('' when it can be): a lab image hardlab has no recipe for, or a reference
    the engine would refuse to parse."""
    if image.startswith(LAB_IMAGE_PREFIX):
        name = image[len(LAB_IMAGE_PREFIX) :]
        folder = config.recipes_dir()
        known = sorted(p.parent.name for p in folder.glob("*/recipe.sh")) if folder.is_dir() else []
        if known and name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean 'lab:{near[0]}'?" if near else f"known: {', '.join('lab:' + k for k in known)}"
            return f"no lab image {image!r} ({hint})"
        return ""
    if not _REFERENCE.match(image):
        return f"{image!r} is not an image reference (e.g. 'debian:12', 'registry:5000/team/app@sha256:...')"
    return ""


def _check_probes(check: Checker, case: Case, path: KeyPath, abis: tuple[str, ...]) -> None:
    """Every `syscall = "NAME"` step names a probe hardlab-probe knows on each ABI the case runs it through;
    otherwise the prober exits 2 ("unknown syscall") and the case would fail as if the engine had."""
    groups = [(("step",), case.steps), (("control", "step"), case.control.steps if case.control else ())]
    for where, steps in groups:
        for n, step in enumerate(steps):
            if step.argv[:1] != (PROBE,) or placeholders(list(step.argv)):
                continue
            key: KeyPath = (*path, *where, n, "syscall")
            words = list(step.argv[1:])
            on = abis
            if "--abi" in words:
                at = words.index("--abi")
                on = tuple(words[at + 1 : at + 2])
                del words[at : at + 2]
                if not on or on[0] not in ABIS:
                    check.error(key, f"--abi needs one of {', '.join(ABIS)}; or set abis = [...] on the case")
                    continue
            if len(words) != 1:
                check.error(key, f"expected one probe name (e.g. 'mount'), got {' '.join(step.argv[1:])!r}")
                continue
            for abi in on:
                known = known_syscalls(abi)
                if known is not None and words[0] not in known:
                    near = difflib.get_close_matches(words[0], sorted(known), n=1)
                    hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(known))}"
                    check.error(key, f"hardlab-probe has no probe {words[0]!r} on {abi} ({hint}); "
                                     "a `shell` step can make any other call")  # fmt: skip
                    break


def _check_bound(check: Checker, container: Mapping[str, Any], path: KeyPath, inputs: Mapping[str, Input]) -> None:
    """Options that name a text input (`pids_limit = "${limit}"`) checked with the input's default, so a bad
    default is a problem of this file, not an error of the engine at run time."""
    texts = {n: i.default for n, i in inputs.items() if i.kind == "text" and i.default is not None}
    named = {k: v for k, v in container.items() if k in CONTAINER_OPTIONS and placeholders(v) & set(texts)}
    if not named:
        return
    for key, value in named.items():
        sub = Checker(check.file, "", check.base)
        sub.index = check.index
        check_container(sub, normal_options({key: substitute(value, texts, keep_unknown=True)}), path)
        used = ", ".join(repr(n) for n in sorted(placeholders(value) & set(texts)))
        check.problems += [dataclasses.replace(p, message=f"{p.message} (the default of input {used})")
                           for p in sub.problems]  # fmt: skip


def _rules_for_rows(check: Checker, built: list[Case]) -> list[Case]:
    """Each row of a parametrized case keeps the rules meant for it (`cases = [...]` names rows by case id);
    a rule naming a row that does not exist is a problem (a typo would silently drop the rule)."""
    ids = {c.id for c in built}
    named = {(case_id, rule.line) for c in built for s in _all_steps(c) for rule in s.when for case_id in rule.cases}
    for case_id, line in sorted(named, key=lambda x: (x[1] or 0, x[0])):
        if case_id not in ids:
            near = difflib.get_close_matches(case_id, sorted(ids), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (this case's ids: {', '.join(sorted(ids))})"
            check.problems.append(Problem(check.file, line, "when.cases", f"no case {case_id!r}{hint}"))

    def keep(steps: tuple[Step, ...], case_id: str) -> tuple[Step, ...]:
        return tuple(
            dataclasses.replace(s, when=tuple(r for r in s.when if not r.cases or case_id in r.cases)) for s in steps
        )

    out = []
    for c in built:
        control = c.control and dataclasses.replace(c.control, steps=keep(c.control.steps, c.id))
        out.append(dataclasses.replace(c, steps=keep(c.steps, c.id), control=control))
    return out


def _abis(check: Checker, raw: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    """`abis = ["x86_64", "i386"]`: the ABIs every `syscall` step of the case is made through."""
    if "abis" not in raw:
        return ("x86_64",)
    names = check.strings(raw, "abis", path, allow_single=False)
    for name in names:
        if name not in ABIS:
            check.error((*path, "abis"), f"unknown ABI {name!r}; known: {', '.join(ABIS)}")
    if len(set(names)) != len(names):
        check.error((*path, "abis"), "names an ABI twice")
    return names or ("x86_64",)


def _on_abis(case: Case, abis: tuple[str, ...]) -> list[Case]:
    """One case per ABI: the x86_64 one keeps its id; another ABI's is `ID-ABI`, its syscall steps go through
    that ABI (`hardlab-probe --abi ABI`) and it needs the host feature saying the kernel accepts it."""
    out = []
    for abi in abis:
        if abi == "x86_64":
            out.append(case)
            continue

        def through(steps: tuple[Step, ...], abi: str = abi) -> tuple[Step, ...]:
            return tuple(
                dataclasses.replace(s, argv=(PROBE, "--abi", abi, *s.argv[1:]), name=f"{s.name} [{abi}]")
                if s.argv[:1] == (PROBE,) and "--abi" not in s.argv else s
                for s in steps
            )  # fmt: skip

        control = case.control and dataclasses.replace(case.control, steps=through(case.control.steps))
        feature = ABIS[abi] or ""
        out.append(dataclasses.replace(
            case, id=f"{case.id}-{abi}", title=f"{case.title} [{abi} ABI]", steps=through(case.steps),
            control=control, requires=tuple(dict.fromkeys((*case.requires, feature))),
        ))  # fmt: skip
    return out


def _all_steps(case: Case) -> tuple[Step, ...]:
    return (*case.steps, *(case.control.steps if case.control else ()))


def _severity(check: Checker, table: Mapping[str, Any], path: KeyPath) -> str:
    """`severity = "critical"`: one of allure's levels ('' when the table does not say)."""
    value = check.text(table, "severity", path) or ""
    if value and value not in SEVERITIES:
        near = difflib.get_close_matches(value, SEVERITIES, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(SEVERITIES)}"
        check.error((*path, "severity"), f"unknown severity {value!r} ({hint})")
        return ""
    return value


def _tags(check: Checker, table: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    tags = check.strings(table, "tags", path, allow_single=False)
    for tag in tags:
        if not TAG.match(tag):
            check.error((*path, "tags"), f"tag {tag!r} must be a pytest marker name (letters, digits, _ and -, "
                                         "not first)")  # fmt: skip
    return tags


def _requires(check: Checker, table: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    required = check.strings(table, "requires", path, allow_single=False)
    for feature in required:
        if feature not in FEATURES:
            near = difflib.get_close_matches(feature, list(FEATURES), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(sorted(FEATURES))}"
            check.error((*path, "requires"), f"unknown host feature {feature!r}{hint}")
    return required


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


def _parametrize(check: Checker, raw: dict[str, Any], path: KeyPath) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = raw.get("parametrize")
    if rows is None:
        return [(raw, {})]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and r for r in rows):
        check.error((*path, "parametrize"), "expected a non-empty list of tables, e.g. [{ syscall = 'mount' }]")
        return []
    names = set(rows[0])
    body = {k: v for k, v in raw.items() if k != "parametrize"}
    if "id" not in body or not placeholders(str(body["id"])):
        check.error((*path, "id"), "a parametrized case needs an id with a ${placeholder}, e.g. id = 'deny-${syscall}'")
        return []
    out = []
    for n, row in enumerate(rows):
        if set(row) != names:
            check.error((*path, "parametrize", n), f"every row needs the same keys {sorted(names)}, got {sorted(row)}")
            continue
        out.append((substitute(copy.deepcopy(body), row, keep_unknown=True), row))
    return out


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults under a case: tables merge key by key, everything else the case wins."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _case(
    check: Checker,
    raw: dict[str, Any],
    path: KeyPath,
    inputs: Mapping[str, Input],
    params: Mapping[str, Any],
) -> Case | None:
    before = len(check.problems)
    cid = check.text(raw, "id", path, required=True) or ""
    if cid and not _ID.match(cid):
        check.error((*path, "id"), f"{cid!r} is not a valid id (letters, digits, . _ + -; no spaces)")
    image = check.text(raw, "image", path) or f"{LAB_IMAGE_PREFIX}busybox"
    if not placeholders(image):
        why = image_problem(image)
        if why:
            check.error((*path, "image"), why)
    timeout = check.timeout(raw, path, DEFAULT_TIMEOUT)
    container = raw.get("container", {})
    if not isinstance(container, dict):
        check.error((*path, "container"), "must be a table of docker-py run options")
        container = {}
    container = normal_options(container)
    check_container(check, container, (*path, "container"))
    _check_bound(check, container, (*path, "container"), inputs)
    use_inputs = check.strings(raw, "use_inputs", path, allow_single=False)
    for name in use_inputs:
        if name not in inputs:
            check.error((*path, "use_inputs"), f"no input named {name!r} (declare it under [inputs.{name}])")
        elif inputs[name].kind != "options":
            check.error((*path, "use_inputs"), f"input {name!r} is of kind {inputs[name].kind!r}, not 'options'")
    runner = check.text(raw, "runner", path) or "container"
    if runner not in RUNNERS:
        check.error((*path, "runner"), f"unknown runner {runner!r}; known: {', '.join(RUNNERS)}")
    uses = check.strings(raw, "uses", path, allow_single=False)
    for use in uses:
        if use not in USES:
            check.error((*path, "uses"), f"unknown {use!r}; known: {', '.join(USES)}")
    if runner == "host":
        for key in ("image", "container", "start_error", "use_inputs", "control"):
            if key in raw:
                check.error(
                    (*path, key), "a runner = 'host' case starts no container; its controls are control = true steps"
                )
    known = set(inputs) | (TRUST_PLACEHOLDERS if uses else set())
    for name in placeholders({k: v for k, v in raw.items() if k != "parametrize"}):
        if name not in known:
            check.error(path, f"${{{name}}} is neither an input nor a parametrize key")

    start_error = check.strings(raw, "start_error", path)
    expect_start = check.text(raw, "expect_start", path) or ""
    if expect_start and expect_start not in EXPECT_START:
        check.error((*path, "expect_start"), f"expected 'starts' or 'fails', got {expect_start!r}")
    elif expect_start == "starts" and start_error:
        check.error((*path, "expect_start"), "a case that expects its container to start cannot have a start_error")
    elif expect_start == "fails" and not start_error:
        start_error = ("",)  # any failed start will do (judge_start_error reads "" as that)
    run_as = check.text(raw, "run_as", path) or "exec"
    if run_as not in RUN_AS:
        check.error((*path, "run_as"), f"expected 'exec' (the default) or 'main', got {run_as!r}")
    steps = parse_steps(check, raw.get("step"), (*path, "step"), timeout, host=runner == "host")
    if start_error and steps and expect_start:
        check.error((*path, "expect_start"), "a case with expect_start = 'fails' must fail to start, so it cannot "
                                             "also have steps")  # fmt: skip
    elif start_error and steps:
        check.error((*path, "start_error"), "a case that must fail to start cannot also have steps")
    # Judge the file as written, not what survived validation: an invalid step already has its own problem.
    written = [s for s in raw.get("step", []) if isinstance(s, dict)] if isinstance(raw.get("step"), list) else []
    if not start_error and not steps and not raw.get("step"):
        check.error((*path, "step"), "a case needs at least one [[case.step]] (or start_error)")

    control = None
    if "control" in raw:
        control = parse_control(check, raw["control"], (*path, "control"), timeout)
    if run_as == "main" and runner != "host":
        steps, container = _as_main(check, steps, container, path, ("step",))
        if control is not None:
            csteps, ccontainer = _as_main(check, control.steps, control.container, (*path, "control"), ("step",))
            control = dataclasses.replace(control, steps=csteps, container=ccontainer)
    no_control_reason = check.text(raw, "no_control_reason", path) or ""
    has_control = "control" in raw or any(s.get("control") is True for s in written)
    if not has_control and not no_control_reason:
        check.error(
            path,
            "no control: add a step with control = true (the same container doing the allowed thing) "
            "or a [case.control] run under the permissive setting, so a broken container cannot pass; "
            "or say why none applies in no_control_reason",
        )
    tags = _tags(check, raw, path)
    requires = _requires(check, raw, path)
    if len(check.problems) > before:
        return None
    title = raw.get("title") if isinstance(raw.get("title"), str) else cid
    return Case(
        id=cid,
        title=substitute(title, params, keep_unknown=True),
        tags=tags,
        requires=tuple(dict.fromkeys((
            *requires, *(() if expect_start else implied_requirements(container)), *(["trust-lab"] if uses else []),
        ))),
        image=image,
        container=container,
        use_inputs=use_inputs,
        steps=steps,
        control=control,
        start_error=start_error,
        no_control_reason=no_control_reason,
        line=check.line(path),
        runner=runner,
        uses=uses,
    )


def _as_main(
    check: Checker, steps: tuple[Step, ...], container: Mapping[str, Any], path: KeyPath, where: KeyPath
) -> tuple[tuple[Step, ...], dict[str, Any]]:
    """`run_as = "main"`: the one command step becomes the container's entrypoint (PID 1, no keep-alive),
    judged as a `wait` step on the container's exit code and logs."""
    out = dict(container)
    if not steps:
        return steps, out
    if len(steps) != 1 or steps[0].kind != "exec":
        check.error((*path, *where), "with run_as = 'main' the container runs one command: write exactly one "
                                     "exec, shell or syscall step (a wait step is what main mode already does)")
        return steps, out
    for key in ("command", "entrypoint"):
        if key in out:
            check.error((*path, "container", key), "with run_as = 'main' the step's command is the container's "
                                                   "main process; leave out command and entrypoint")  # fmt: skip
    step = steps[0]
    out["entrypoint"] = list(step.argv)
    if step.user is not None:
        out["user"] = step.user
    return (dataclasses.replace(step, kind="wait", main=True),), out
