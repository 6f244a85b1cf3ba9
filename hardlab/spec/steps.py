"""Steps of a case: container steps (exec, shell, syscall, wait), host steps (cli, push, notary, scan),
what each must show (its expectation) and the control run."""

from __future__ import annotations

import re
from typing import Any

from hardlab.spec import caps as capsmod
from hardlab.spec.checker import Checker
from hardlab.spec.container import check_container, normal_options
from hardlab.spec.facts import FACTS, parse_range
from hardlab.spec.model import (
    PROC_STATUS_ARGV,
    CliStep,
    ControlRun,
    Expectation,
    FactRule,
    HostAction,
    NotaryStep,
    PushStep,
    ScanStep,
    SkipWhen,
    Step,
)
from hardlab.spec.tomlpos import KeyPath
from hardlab.spec.vocabulary import ERRNO_NAMES

STEP_COMMAND_KEYS = ("exec", "shell", "syscall", "wait")
# Steps of a `runner = "host"` case run on the host, not in a container: content trust lives in the docker
# CLI and a scan reads an image without starting it (hardlab.hoststeps runs them).
HOST_COMMAND_KEYS = ("cli", "push", "notary", "scan")
HOST_STEP_OPTIONS = ("content_trust", "client")
STEP_EXPECT_KEYS = (
    "exit_code", "stdout_contains", "stdout_not_contains", "stdout_matches", "stdout_equals", "stderr_contains",
    "stderr_not_contains", "stderr_matches", "stderr_equals", "output_contains", "proc_status", "cap_eff", "cap_prm",
    "cap_bnd", "cap_inh", "cap_amb", "errno", "errno_not", "oom_killed",
)  # fmt: skip
STEP_KEYS = {"name", "user", "timeout", "control", "skip_when", "when", *STEP_COMMAND_KEYS, *STEP_EXPECT_KEYS}
RULE_KEYS = {"skip", "reference", "cases", *FACTS, *STEP_EXPECT_KEYS}
HOST_STEP_KEYS = {"name", "timeout", "control", *HOST_COMMAND_KEYS, *HOST_STEP_OPTIONS, *STEP_EXPECT_KEYS}
CAP_FIELDS = {"cap_eff": "CapEff", "cap_prm": "CapPrm", "cap_bnd": "CapBnd", "cap_inh": "CapInh", "cap_amb": "CapAmb"}
PUSH_KEYS: dict[str, tuple[type, ...]] = {"ref": (str,), "variant": (str,), "signed": (bool,)}
SCAN_KEYS: dict[str, tuple[type, ...]] = {
    "target": (str,),
    "feed": (str,),
    "severity": (str,),
    "threshold": (int,),
    "backend": (str,),
}

# The prober baked into lab:tools (labs/images/tools/hardlab-probe).
PROBE = "/usr/local/bin/hardlab-probe"


def parse_steps(check: Checker, raw: Any, path: KeyPath, timeout: float, host: bool = False) -> tuple[Step, ...]:
    """The valid steps of an array of step tables at `path`; every problem goes to `check`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.error(path, "must be an array of tables ([[case.step]])")
        return ()
    steps = []
    for n, item in enumerate(raw):
        spath: KeyPath = (*path, n)
        if not isinstance(item, dict):
            check.error(spath, "must be a table")
            continue
        step = _step(check, item, spath, timeout, host)
        if step:
            steps.append(step)
    return tuple(steps)


def parse_control(check: Checker, raw: Any, path: KeyPath, timeout: float) -> ControlRun | None:
    """A [case.control] table: container overrides and the steps that must succeed under them."""
    if not isinstance(raw, dict):
        check.error(path, "must be a table with container overrides and [[case.control.step]]")
        return None
    check.keys(raw, path, {"container", "step"})
    container = raw.get("container", {})
    if not isinstance(container, dict):
        check.error((*path, "container"), "must be a table")
        container = {}
    container = normal_options(container)
    check_container(check, container, (*path, "container"))
    steps = parse_steps(check, raw.get("step"), (*path, "step"), timeout)
    if not steps and not raw.get("step"):
        check.error((*path, "step"), "a control needs at least one [[case.control.step]] that must succeed")
    return ControlRun(container, steps, check.line(path))


def _shaped(value: Any, shape: dict[str, tuple[type, ...]], required: tuple[str, ...]) -> bool:
    """`value` is a table of keys from `shape`, each of its type (bool is not an int), with `required`."""
    return (
        isinstance(value, dict)
        and all(key in value for key in required)
        and all(
            key in shape and isinstance(v, shape[key]) and (bool in shape[key] or not isinstance(v, bool))
            for key, v in value.items()
        )
    )


def _host_step(check: Checker, raw: dict[str, Any], path: KeyPath) -> tuple[str, HostAction | None] | None:
    """(kind, action) of a host step: cli, push, notary or scan, each checked for its shape (action None
    when the shape is wrong); None when the step names no command or more than one."""
    check.keys(raw, path, HOST_STEP_KEYS)
    commands = [k for k in HOST_COMMAND_KEYS if k in raw]
    if len(commands) != 1:
        check.error(path, f"a host step needs exactly one of {', '.join(HOST_COMMAND_KEYS)}; got {commands or 'none'}")
        return None
    kind, value = commands[0], raw[commands[0]]
    shape_ok = True
    if kind == "cli" and not (
        isinstance(value, list) and value[:1] == ["docker"] and all(isinstance(v, str) for v in value)
    ):
        check.error((*path, "cli"), f"expected a docker CLI argv starting with 'docker', got {value!r}")
        shape_ok = False
    elif kind == "push" and not _shaped(value, PUSH_KEYS, ("ref",)):
        check.error((*path, "push"), "expected { ref = '...', variant = '...', signed = true|false }")
        shape_ok = False
    elif kind == "notary" and value != "stop":
        check.error((*path, "notary"), "the only notary action is 'stop'")
        shape_ok = False
    elif kind == "scan" and not _shaped(value, SCAN_KEYS, ("target", "feed")):
        check.error((*path, "scan"), "expected { target = IMAGE, feed = PATH, severity = 'High', threshold = 15 }")
        shape_ok = False
    content_trust = check.typed(raw, "content_trust", path, (bool,), "true/false")
    client = check.typed(raw, "client", path, (str,), "a client name ('default', 'fresh' or any name)")
    if not shape_ok:
        return kind, None
    action: HostAction
    if kind == "cli":
        # content_trust and client are accepted on every host step; only a CLI step reads them.
        action = CliStep(
            tuple(value),
            content_trust=True if content_trust is None else content_trust,
            client="default" if client is None else client,
        )
    elif kind == "push":
        action = PushStep(**value, written=tuple(value))
    elif kind == "notary":
        action = NotaryStep(value)
    else:
        action = ScanStep(**value, written=tuple(value))
    return kind, action


def _step(check: Checker, raw: dict[str, Any], path: KeyPath, timeout: float, host: bool = False) -> Step | None:
    before = len(check.problems)
    if host:
        found = _host_step(check, raw, path)
        exp = _expectation(check, raw, path, "host")
        if not any(k in raw for k in STEP_EXPECT_KEYS):
            check.error(path, f"the step asserts nothing: add one of {', '.join(STEP_EXPECT_KEYS)}")
        control = check.typed(raw, "control", path, (bool,), "true/false") or False
        step_timeout = check.timeout(raw, path, max(timeout, 60.0))
        if found is None or found[1] is None or exp is None or len(check.problems) > before:
            return None
        kind, action = found
        name: str = raw["name"] if isinstance(raw.get("name"), str) else kind
        return Step(name, kind, (), None, step_timeout, bool(control), exp, None, check.line(path), host=action)
    check.keys(raw, path, STEP_KEYS)
    commands = [k for k in STEP_COMMAND_KEYS if k in raw]
    reads_status = any(k in raw for k in ("proc_status", *CAP_FIELDS))
    if not commands and reads_status:
        raw = {**raw, "exec": list(PROC_STATUS_ARGV)}
        commands = ["exec"]
    if len(commands) != 1:
        check.error(path, f"a step needs exactly one of {', '.join(STEP_COMMAND_KEYS)}; got {commands or 'none'}")
        _expectation(check, raw, path, "wait" if "wait" in raw else "exec")  # report the step's other problems too
        check.timeout(raw, path, timeout)
        return None
    kind = "exec"
    argv: tuple[str, ...] = ()
    if "exec" in raw:
        value = raw["exec"]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            check.error((*path, "exec"), f"expected a non-empty list of strings (argv), got {value!r}")
        else:
            argv = tuple(value)
    elif "shell" in raw:
        value = check.text(raw, "shell", path, required=True)
        argv = ("/bin/sh", "-c", value or "")
    elif "syscall" in raw:
        value = check.text(raw, "syscall", path, required=True) or ""
        argv = (PROBE, *value.split())
    else:
        if raw["wait"] is not True:
            check.error((*path, "wait"), "write wait = true to wait for the container's main process")
        kind = "wait"

    exp = _expectation(check, raw, path, kind)
    if not any(k in raw for k in STEP_EXPECT_KEYS):
        check.error(path, f"the step asserts nothing: add one of {', '.join(STEP_EXPECT_KEYS)}")
    skip_when = None
    if "skip_when" in raw:
        sw = raw["skip_when"]
        if (
            not isinstance(sw, dict)
            or set(sw) != {"stdout_contains", "reason"}
            or not all(isinstance(v, str) and v for v in sw.values())
        ):
            check.error((*path, "skip_when"), "expected { stdout_contains = '...', reason = '...' }")
        else:
            skip_when = SkipWhen(sw["stdout_contains"], sw["reason"])
    control = check.typed(raw, "control", path, (bool,), "true/false") or False
    user = check.typed(raw, "user", path, (str, int), "a user name or uid")
    step_timeout = check.timeout(raw, path, timeout)
    rules = parse_rules(check, raw.get("when"), (*path, "when"), kind)
    if len(check.problems) > before or exp is None:
        return None
    name = raw["name"] if isinstance(raw.get("name"), str) else ""
    if not name and argv == PROC_STATUS_ARGV:
        name = "read /proc/1/status"
    return Step(
        name=name or (" ".join(argv)[:60] if argv else "wait"),
        kind=kind,
        argv=argv,
        user=str(user) if user is not None else None,
        timeout=step_timeout,
        control=bool(control),
        expect=exp,
        skip_when=skip_when,
        line=check.line(path),
        when=rules,
    )


def parse_rules(check: Checker, raw: Any, path: KeyPath, kind: str) -> tuple[FactRule, ...]:
    """`[[...step.when]]`: engine-dependent expectations. Each names facts with conditions, a `reference`
    (the change that made engines differ), and either expectation keys that replace the step's or `skip`."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        check.error(path, "must be an array of tables ([[case.step.when]])")
        return ()
    out = []
    for n, rule in enumerate(raw):
        rpath: KeyPath = (*path, n)
        if not isinstance(rule, dict):
            check.error(rpath, "must be a table")
            continue
        before = len(check.problems)
        check.keys(rule, rpath, RULE_KEYS)
        conditions = [(fact, _condition(check, rule, fact, rpath)) for fact in FACTS if fact in rule]
        if not conditions:
            check.error(rpath, f"a rule needs at least one engine fact to test: {', '.join(FACTS)}")
        reference = check.text(rule, "reference", rpath, required=True) or ""
        skip = check.text(rule, "skip", rpath) or ""
        replaces = tuple(k for k in STEP_EXPECT_KEYS if k in rule)
        if bool(skip) == bool(replaces):
            check.error(rpath, "a rule either replaces expectation keys (errno = ..., cap_eff = ...) or skips "
                               "with a reason (skip = '...'), not both and not neither")  # fmt: skip
        exp = _expectation(check, {k: rule[k] for k in replaces}, rpath, kind)
        cases = check.strings(rule, "cases", rpath)
        if len(check.problems) == before and exp is not None:
            out.append(FactRule(tuple((f, c) for f, c in conditions if c is not None), exp, replaces, skip,
                                reference, cases, check.line(rpath)))  # fmt: skip
    return tuple(out)


def _condition(check: Checker, rule: dict[str, Any], fact: str, path: KeyPath) -> str | None:
    """A fact's condition as text: a version range, names joined by '|', or a value."""
    kind, _ = FACTS[fact]
    value = rule[fact]
    where = (*path, fact)
    if kind == "version":
        if not isinstance(value, str):
            check.error(where, f"expected a version range such as '>=23.0', got {value!r}")
            return None
        try:
            parse_range(value)
        except ValueError as exc:
            check.error(where, str(exc))
            return None
        return value
    if kind == "name":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(v, str) and v for v in names):
            check.error(where, f"expected a name or a list of names (e.g. 'crun' or ['runc', 'crun']), got {value!r}")
            return None
        return "|".join(names)
    if kind == "bool":
        if not isinstance(value, bool):
            check.error(where, f"expected true/false, got {value!r}")
            return None
        return "true" if value else "false"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        check.error(where, f"expected a value such as '2', got {value!r}")
        return None
    return str(value)


def _expectation(check: Checker, raw: dict[str, Any], path: KeyPath, kind: str) -> Expectation | None:
    exit_code: tuple[int, ...] | None = None
    if "exit_code" in raw:
        value = raw["exit_code"]
        if isinstance(value, int) and not isinstance(value, bool):
            exit_code = (value,)
        elif isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            exit_code = tuple(value)
        else:
            check.error((*path, "exit_code"), f"expected an integer or a non-empty list of integers, got {value!r}")
        if exit_code and not all(0 <= c <= 255 for c in exit_code):
            check.error((*path, "exit_code"), f"an exit code is 0 to 255 (a signal shows as 128 + its number), "
                                              f"got {value!r}")  # fmt: skip
            exit_code = None
    out: dict[str, Any] = {"exit_code": exit_code}
    for key in ("stdout_contains", "stdout_not_contains", "stderr_contains", "stderr_not_contains", "output_contains"):
        out[key] = check.strings(raw, key, path)
    for key in ("stdout_matches", "stderr_matches"):
        patterns = check.strings(raw, key, path)
        for pattern in patterns:
            try:
                re.compile(pattern, re.MULTILINE)
            except re.error as exc:
                check.error((*path, key), f"invalid regular expression {pattern!r}: {exc}")
        out[key] = patterns
    for key in ("stdout_equals", "stderr_equals"):
        out[key] = check.typed(raw, key, path, (str,), "a string (the whole output)")
    status = raw.get("proc_status", {})
    if not isinstance(status, dict) or not all(isinstance(v, (str, int)) for v in status.values()):
        check.error((*path, "proc_status"), "expected a table of field = value, e.g. { Seccomp = '2' }")
        status = {}
    for fname in status:
        if not re.match(r"^[A-Za-z_]+$", fname):
            check.error((*path, "proc_status", fname), "not a /proc/<pid>/status field name")
    out["proc_status"] = tuple((k, str(v)) for k, v in status.items())
    cap_specs = []
    for key, fname in CAP_FIELDS.items():
        names = check.strings(raw, key, path, allow_single=False) if key in raw and raw[key] != [] else ()
        if key in raw and raw[key] == []:
            names = ("@none",)
        for name in names:
            token = name.lstrip("-")
            if token.startswith("@"):
                if token not in capsmod.NAMED_SETS:
                    check.error((*path, key), f"unknown capability set {token!r}; known: {sorted(capsmod.NAMED_SETS)}")
            elif not capsmod.is_known(token):
                check.error((*path, key), f"unknown capability {name!r}")
        if key in raw:
            cap_specs.append((fname, names))
    out["caps"] = tuple(cap_specs)
    for key in ("errno", "errno_not"):
        names = check.strings(raw, key, path)
        for name in names:
            if name not in ERRNO_NAMES:
                check.error((*path, key), f"unknown errno name {name!r}")
        out[key] = names
    oom = check.typed(raw, "oom_killed", path, (bool,), "true/false")
    if oom is not None and kind != "wait":
        check.error((*path, "oom_killed"), "oom_killed applies to a wait step (the container's main process)")
    out["oom_killed"] = oom
    return Expectation(**out)
