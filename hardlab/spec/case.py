"""One [[case]] table -> a Case: its keys, image, container options, inputs it names, start expectation,
run_as, steps and control; the defaults it merges and the rows of its parametrize."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import re
from collections.abc import Mapping
from typing import Any

from hardlab import config
from hardlab.errors import Problem
from hardlab.spec.checker import Checker
from hardlab.spec.container import CONTAINER_OPTIONS, check_container, implied_requirements, normal_options
from hardlab.spec.model import Case, Input, Step
from hardlab.spec.placeholders import TRUST_PLACEHOLDERS, placeholders, substitute
from hardlab.spec.steps import parse_control, parse_steps
from hardlab.spec.tomlpos import KeyPath
from hardlab.spec.vocabulary import FEATURES, RUNNERS, SEVERITIES, USES

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
CASE_KEYS = {"id", "title", "step", "control", "parametrize", *CASE_SHARED_KEYS}
# A tag becomes a pytest marker: `-m` reads letters, digits, _ and - in a name (`-m no-root`).
TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


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


def rules_for_rows(check: Checker, built: list[Case]) -> list[Case]:
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


def _all_steps(case: Case) -> tuple[Step, ...]:
    return (*case.steps, *(case.control.steps if case.control else ()))


def parse_severity(check: Checker, table: Mapping[str, Any], path: KeyPath) -> str:
    """`severity = "critical"`: one of allure's levels ('' when the table does not say)."""
    value = check.text(table, "severity", path) or ""
    if value and value not in SEVERITIES:
        near = difflib.get_close_matches(value, SEVERITIES, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(SEVERITIES)}"
        check.error((*path, "severity"), f"unknown severity {value!r} ({hint})")
        return ""
    return value


def parse_tags(check: Checker, table: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    tags = check.strings(table, "tags", path, allow_single=False)
    for tag in tags:
        if not TAG.match(tag):
            check.error((*path, "tags"), f"tag {tag!r} must be a pytest marker name (letters, digits, _ and -, "
                                         "not first)")  # fmt: skip
    return tags


def parse_requires(check: Checker, table: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    required = check.strings(table, "requires", path, allow_single=False)
    for feature in required:
        if feature not in FEATURES:
            near = difflib.get_close_matches(feature, list(FEATURES), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(sorted(FEATURES))}"
            check.error((*path, "requires"), f"unknown host feature {feature!r}{hint}")
    return required


def parametrize_rows(check: Checker, raw: dict[str, Any], path: KeyPath) -> list[tuple[dict[str, Any], dict[str, Any]]]:
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


def merge_defaults(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults under a case: tables merge key by key, everything else the case wins."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_defaults(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_case(
    check: Checker,
    raw: dict[str, Any],
    path: KeyPath,
    inputs: Mapping[str, Input],
    params: Mapping[str, Any],
) -> Case | None:
    before = len(check.problems)
    cid = check.text(raw, "id", path, required=True) or ""
    if cid and not ID_PATTERN.match(cid):
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
    tags = parse_tags(check, raw, path)
    requires = parse_requires(check, raw, path)
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
