"""Scenario files: parse, validate the whole file, expand into cases. Pure: no pytest, no docker.

A scenario file is TOML:

    schema_version = 1
    [scenario]  id, title, description, tags, requires, references, remediation
    [inputs.NAME]  kind, default, description      (overridable from outside: grading, host profiles)
    [defaults]  any case key but id/title/step/control/parametrize, merged into every case
    [[case]]  id, title, tags, requires, image, timeout, container, use_inputs, start_error,
              no_control_reason, parametrize, [[case.step]], [case.control]

Every problem is reported with file, line and key path; all problems of a file are reported together.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardlab.errors import Problem, ProblemsError
from hardlab.spec import caps as capsmod
from hardlab.spec.tomlpos import KeyPath, format_path, line_index, line_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEMA_VERSION = 1
LAB_IMAGE_PREFIX = "lab:"
DEFAULT_TIMEOUT = 10.0
# Applied unless a case sets its own, so a broken scenario cannot exhaust the host.
DEFAULT_LIMITS: dict[str, Any] = {"mem_limit": "256m", "pids_limit": 512}

FEATURES = {
    "seccomp": "the engine applies seccomp profiles (docker info: seccomp)",
    "apparmor": "the kernel has AppArmor enabled and the engine uses it",
    "selinux": "the engine runs with SELinux support",
    "userns-remap": "the engine runs with user-namespace remapping (userns-remap)",
    "user-namespaces": "the kernel lets an unprivileged process create a user namespace",
    "privileged": "the engine can start --privileged containers",
    "cgroup-pids": "the pids cgroup controller is available",
    "cgroup-memory": "the memory cgroup controller is available",
    "kernel-config": "the kernel build config is readable (/boot/config-* or /proc/config.gz)",
    "rootful": "the engine runs as root (not rootless)",
    "local-engine": "the engine runs on this machine (host files can be read)",
    "x86_64": "the engine's host is x86_64",
    "trust-lab": "docker-registry and notary-server are installed, or this is root on Debian and can install them",
}

INPUT_KINDS = {"seccomp", "apparmor", "file", "options", "text"}

ERRNO_NAMES = {
    "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD", "EAGAIN",
    "ENOMEM", "EACCES", "EFAULT", "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL",
    "ENFILE", "EMFILE", "ENOTTY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "ERANGE",
    "ENOSYS", "EOPNOTSUPP", "EAFNOSUPPORT", "EPROTONOSUPPORT", "ENOPKG", "ENOKEY", "EBADMSG", "OK",
    "ENAMETOOLONG", "ENOTSUP", "ENOTSOCK", "ESOCKTNOSUPPORT", "EPROTOTYPE", "EKEYREJECTED", "ENOTBLK",
}  # fmt: skip

# docker-py `containers.run` keyword -> accepted Python type(s). The allow-list of what a scenario may set.
CONTAINER_OPTIONS: dict[str, tuple[type, ...]] = {
    "command": (list, str),
    "entrypoint": (list, str),
    "user": (str, int),
    "cap_add": (list,),
    "cap_drop": (list,),
    "security_opt": (list,),
    "read_only": (bool,),
    "pids_limit": (int,),
    "mem_limit": (str, int),
    "memswap_limit": (str, int),
    "devices": (list,),
    "ulimits": (list,),
    "network_mode": (str,),
    "tmpfs": (dict,),
    "privileged": (bool,),
    "userns_mode": (str,),
    "environment": (dict,),
    "working_dir": (str,),
    "sysctls": (dict,),
    "nano_cpus": (int,),
    "hostname": (str,),
    "group_add": (list,),
    "pid_mode": (str,),
    "ipc_mode": (str,),
    "shm_size": (str, int),
    "init": (bool,),
    "oom_kill_disable": (bool,),
    "volumes": (dict, list),
}

STEP_COMMAND_KEYS = ("exec", "shell", "syscall", "wait")
# Steps of a `runner = "host"` case run on the host, not in a container: content trust lives in the docker
# CLI and a scan reads an image without starting it (hardlab.hoststeps runs them).
HOST_COMMAND_KEYS = ("cli", "push", "notary", "scan")
HOST_STEP_OPTIONS = ("content_trust", "client")
RUNNERS = ("container", "host")
USES = {"trust-lab": "the session's content-trust lab", "trust-lab:own": "a content-trust lab of its own"}
# Filled at run time from the trust lab (hardlab.trust.lab.TrustRepos.placeholders), so no [inputs] entry is needed.
TRUST_PLACEHOLDERS = {"registry", "notary", "notary_url", "run_id"} | {
    f"{name}_{part}" for name in ("signed", "unsigned", "no_trust") for part in ("ref", "repo", "digest")
}
STEP_EXPECT_KEYS = (
    "exit_code", "stdout_contains", "stdout_not_contains", "stdout_matches", "stderr_contains",
    "stderr_not_contains", "stderr_matches", "output_contains", "proc_status", "cap_eff", "cap_prm",
    "cap_bnd", "cap_inh", "cap_amb", "errno", "errno_not", "oom_killed",
)  # fmt: skip
STEP_KEYS = {"name", "user", "timeout", "control", "skip_when", *STEP_COMMAND_KEYS, *STEP_EXPECT_KEYS}
HOST_STEP_KEYS = {"name", "timeout", "control", *HOST_COMMAND_KEYS, *HOST_STEP_OPTIONS, *STEP_EXPECT_KEYS}
CASE_SHARED_KEYS = {
    "runner",
    "uses",
    "tags", "requires", "image", "timeout", "container", "use_inputs", "start_error", "no_control_reason",
}  # fmt: skip
CASE_KEYS = {"id", "title", "step", "control", "parametrize", *CASE_SHARED_KEYS}
CAP_FIELDS = {"cap_eff": "CapEff", "cap_prm": "CapPrm", "cap_bnd": "CapBnd", "cap_inh": "CapInh", "cap_amb": "CapAmb"}

# The prober baked into lab:tools (labs/images/tools/hardlab-probe).
PROBE = "/usr/local/bin/hardlab-probe"
# What a step with only proc_status/cap_* expectations runs: PID 1's status plus the kernel's cap width.
PROC_STATUS_ARGV = ("/bin/sh", "-c", "cat /proc/1/status; echo CapLastCap: $(cat /proc/sys/kernel/cap_last_cap)")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


class ScenarioError(ProblemsError):
    """Everything wrong with one scenario (or input) file, each problem with file, line and key."""


@dataclass(frozen=True)
class SkipWhen:
    stdout_contains: str
    reason: str


@dataclass(frozen=True)
class Expectation:
    """What one step must show. Evaluated by hardlab.core.expect."""

    exit_code: tuple[int, ...] | None = None
    stdout_contains: tuple[str, ...] = ()
    stdout_not_contains: tuple[str, ...] = ()
    stdout_matches: tuple[str, ...] = ()
    stderr_contains: tuple[str, ...] = ()
    stderr_not_contains: tuple[str, ...] = ()
    stderr_matches: tuple[str, ...] = ()
    output_contains: tuple[str, ...] = ()
    proc_status: tuple[tuple[str, str], ...] = ()
    caps: tuple[tuple[str, tuple[str, ...]], ...] = ()
    errno: tuple[str, ...] = ()
    errno_not: tuple[str, ...] = ()
    oom_killed: bool | None = None

    def is_empty(self) -> bool:
        return self == Expectation()


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # "exec" (run in the case's container) or "wait" (wait for its main process to exit)
    argv: tuple[str, ...]
    user: str | None
    timeout: float
    control: bool
    expect: Expectation
    skip_when: SkipWhen | None
    line: int | None
    host: Mapping[str, Any] | None = None  # a host step's table: {"cli": [...], "client": "fresh", ...}

    @property
    def display(self) -> str:
        if self.host is not None:
            spec = self.host[self.kind]
            return " ".join(spec) if isinstance(spec, list) else f"{self.kind} {spec}"
        if self.kind == "wait":
            return "(wait for the container's main process to exit)"
        if len(self.argv) == 3 and self.argv[:2] == ("/bin/sh", "-c"):
            return self.argv[2]
        return " ".join(self.argv)


@dataclass(frozen=True)
class ControlRun:
    """A permissive twin of the case: same probe, looser setting, must succeed."""

    container: Mapping[str, Any]
    steps: tuple[Step, ...]
    line: int | None


@dataclass(frozen=True)
class Input:
    name: str
    kind: str
    default: Any
    description: str
    base: Path  # what a relative default path is relative to


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    tags: tuple[str, ...]
    requires: tuple[str, ...]
    image: str
    container: Mapping[str, Any]
    use_inputs: tuple[str, ...]
    steps: tuple[Step, ...]
    control: ControlRun | None
    start_error: tuple[str, ...]
    no_control_reason: str
    line: int | None
    runner: str = "container"
    uses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    path: Path
    id: str
    title: str
    description: str
    tags: tuple[str, ...]
    requires: tuple[str, ...]
    references: tuple[str, ...]
    remediation: str
    inputs: Mapping[str, Input]
    cases: tuple[Case, ...]
    line: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


class _Checker:
    """Collects problems for one file, each with the line of its key path."""

    def __init__(self, file: str, text: str, base: Path):
        self.file = file
        self.base = base  # relative paths in the file are relative to its folder
        self.index = line_index(text)
        self.problems: list[Problem] = []

    def error(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.file, line_of(self.index, path), format_path(path), message))

    def line(self, path: KeyPath) -> int | None:
        return line_of(self.index, path)

    def keys(self, table: Mapping[str, Any], path: KeyPath, allowed: set[str] | dict[str, Any]) -> None:
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else f" (allowed: {', '.join(sorted(allowed))})"
                self.error((*path, key), f"unknown key{hint}")

    def typed(self, table: Mapping[str, Any], key: str, path: KeyPath, kinds: tuple[type, ...], what: str) -> Any:
        if key not in table:
            return None
        value = table[key]
        # bool is an int in Python; a scenario that writes `exit_code = true` means something else.
        if isinstance(value, bool) and bool not in kinds:
            self.error((*path, key), f"expected {what}, got {value!r}")
            return None
        if not isinstance(value, kinds):
            self.error((*path, key), f"expected {what}, got {value!r}")
            return None
        return value

    def text(self, table: Mapping[str, Any], key: str, path: KeyPath, required: bool = False) -> str | None:
        if required and key not in table:
            self.error((*path, key), "is required")
            return None
        value = self.typed(table, key, path, (str,), "a string")
        if value is not None and not value.strip() and required:
            self.error((*path, key), "must not be empty")
        return value

    def strings(self, table: Mapping[str, Any], key: str, path: KeyPath, allow_single: bool = True) -> tuple[str, ...]:
        value = table.get(key)
        if value is None:
            return ()
        if isinstance(value, str) and allow_single:
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error((*path, key), f"expected a list of strings, got {value!r}")
            return ()
        if not value:
            self.error((*path, key), "must not be an empty list (leave the key out instead)")
        return tuple(value)


def load(path: str | Path, root: Path | None = None) -> Scenario:
    """Parse and validate one scenario file; raise ScenarioError listing every problem."""
    path = Path(path)
    shown = _display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(shown, None, "", f"cannot read the file: {exc}")]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {exc}")]) from exc
    check = _Checker(shown, text, path.parent)
    scenario = _scenario(data, path, shown, check)
    if check.problems:
        raise ScenarioError(check.problems)
    assert scenario is not None
    return scenario


def _display_path(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


def _toml_error_line(message: str) -> int | None:
    found = re.search(r"line (\d+)", message)
    return int(found.group(1)) if found else None


def _scenario(data: dict[str, Any], path: Path, shown: str, check: _Checker) -> Scenario | None:
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
    check.keys(meta, ("scenario",), {"id", "title", "description", "tags", "requires", "references", "remediation"})
    sid = check.text(meta, "id", ("scenario",)) or path.stem
    if not _ID.match(sid):
        check.error(("scenario", "id"), f"{sid!r} is not a valid id (letters, digits, . _ + -)")
    title = check.text(meta, "title", ("scenario",), required=True) or ""
    tags = _tags(check, meta, ("scenario",))
    requires = _requires(check, meta, ("scenario",))

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
        for expanded, params in _parametrize(check, raw, cpath):
            merged = _merge(defaults, expanded)
            case = _case(check, merged, cpath, path, inputs, params)
            if case is None:
                continue
            if case.id in seen:
                check.error((*cpath, "id"), f"duplicate case id {case.id!r} (first at {format_path(seen[case.id])})")
            seen[case.id] = cpath
            cases.append(case)
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
    )


def _tags(check: _Checker, table: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    tags = check.strings(table, "tags", path, allow_single=False)
    for tag in tags:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", tag):
            check.error((*path, "tags"), f"tag {tag!r} must be a valid pytest marker name (letters, digits, _)")
    return tags


def _requires(check: _Checker, table: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    required = check.strings(table, "requires", path, allow_single=False)
    for feature in required:
        if feature not in FEATURES:
            near = difflib.get_close_matches(feature, list(FEATURES), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(sorted(FEATURES))}"
            check.error((*path, "requires"), f"unknown host feature {feature!r}{hint}")
    return required


def _inputs(check: _Checker, raw: Any, base_file: Path) -> dict[str, Input]:
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
            _container(check, default, (*ipath, "default"))
        elif kind in {"seccomp", "file", "apparmor"} and default is not None:
            if not isinstance(default, str):
                check.error((*ipath, "default"), "expected a path (string)")
            elif kind == "seccomp":
                for problem in seccomp_problems(base_file.parent / default, check.file, (*ipath, "default"), check):
                    check.problems.append(problem)
            elif not (base_file.parent / default).is_file():
                check.error((*ipath, "default"), f"file not found: {default} (relative to {base_file.parent})")
        out[name] = Input(name, kind or "text", default, spec.get("description", ""), base_file.parent)
    return out


def _parametrize(check: _Checker, raw: dict[str, Any], path: KeyPath) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    rows = raw.get("parametrize")
    if rows is None:
        return [(raw, {})]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and r for r in rows):
        check.error((*path, "parametrize"), "expected a non-empty list of tables, e.g. [{ syscall = 'mount' }]")
        return []
    names = set(rows[0])
    body = {k: v for k, v in raw.items() if k != "parametrize"}
    if "id" not in body or not _PLACEHOLDER.search(str(body["id"])):
        check.error((*path, "id"), "a parametrized case needs an id with a ${placeholder}, e.g. id = 'deny-${syscall}'")
        return []
    out = []
    for n, row in enumerate(rows):
        if set(row) != names:
            check.error((*path, "parametrize", n), f"every row needs the same keys {sorted(names)}, got {sorted(row)}")
            continue
        out.append((substitute(copy.deepcopy(body), row, keep_unknown=True), row))
    return out


def substitute(value: Any, mapping: Mapping[str, Any], keep_unknown: bool = False) -> Any:
    """Replace ${name} in every string of `value`. A string that is exactly "${name}" takes the
    mapped value as it is (so a list parameter fills a list option)."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in mapping:
            return copy.deepcopy(mapping[whole.group(1)])

        def repl(m: re.Match[str]) -> str:
            if m.group(1) in mapping:
                return str(mapping[m.group(1)])
            if keep_unknown:
                return m.group(0)
            raise KeyError(m.group(1))

        return _PLACEHOLDER.sub(repl, value)
    if isinstance(value, list):
        return [substitute(v, mapping, keep_unknown) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, mapping, keep_unknown) for k, v in value.items()}
    return value


def placeholders(value: Any) -> set[str]:
    """Every ${name} used anywhere in `value`."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    return set()


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
    check: _Checker,
    raw: dict[str, Any],
    path: KeyPath,
    file: Path,
    inputs: Mapping[str, Input],
    params: Mapping[str, Any],
) -> Case | None:
    before = len(check.problems)
    cid = check.text(raw, "id", path, required=True) or ""
    if cid and not _ID.match(cid):
        check.error((*path, "id"), f"{cid!r} is not a valid id (letters, digits, . _ + -; no spaces)")
    image = check.text(raw, "image", path) or f"{LAB_IMAGE_PREFIX}busybox"
    timeout = _timeout(check, raw, path, DEFAULT_TIMEOUT)
    container = raw.get("container", {})
    if not isinstance(container, dict):
        check.error((*path, "container"), "must be a table of docker-py run options")
        container = {}
    _container(check, container, (*path, "container"))
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
    steps = _steps(check, raw.get("step"), (*path, "step"), timeout, file, host=runner == "host")
    if start_error and steps:
        check.error((*path, "start_error"), "a case that must fail to start cannot also have steps")
    # Judge the file as written, not what survived validation: an invalid step already has its own problem.
    written = [s for s in raw.get("step", []) if isinstance(s, dict)] if isinstance(raw.get("step"), list) else []
    if not start_error and not steps and not raw.get("step"):
        check.error((*path, "step"), "a case needs at least one [[case.step]] (or start_error)")

    control = None
    if "control" in raw:
        control = _control(check, raw["control"], (*path, "control"), timeout, file)
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
        requires=tuple(dict.fromkeys((*requires, *implied_requirements(container), *(["trust-lab"] if uses else [])))),
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


def implied_requirements(container: Mapping[str, Any]) -> tuple[str, ...]:
    """Host features a container's options need, so a scenario cannot forget to say so."""
    needs = []
    if container.get("privileged") is True:
        needs.append("privileged")
    for opt in container.get("security_opt", []) or []:
        if isinstance(opt, str) and opt.startswith("apparmor=") and opt != "apparmor=unconfined":
            needs.append("apparmor")
        if isinstance(opt, str) and opt.startswith("seccomp=") and opt != "seccomp=unconfined":
            needs.append("seccomp")
        if isinstance(opt, str) and opt.startswith("label="):
            needs.append("selinux")
    if "pids_limit" in container:
        needs.append("cgroup-pids")
    return tuple(needs)


def _timeout(check: _Checker, raw: Mapping[str, Any], path: KeyPath, default: float) -> float:
    value = check.typed(raw, "timeout", path, (int, float), "a number of seconds")
    if value is None:
        return default
    if not 0 < value <= 600:
        check.error((*path, "timeout"), f"must be between 0 and 600 seconds, got {value}")
        return default
    return float(value)


def container_problems(opts: Mapping[str, Any], base: Path) -> list[str]:
    """Type, capability and security_opt problems of a table of container options from outside a
    scenario file (a student's run options), as 'key: message' lines."""
    check = _Checker("", "", base)
    _container(check, {k: v for k, v in opts.items() if k in CONTAINER_OPTIONS}, ())
    return [f"{p.key}: {p.message}" for p in check.problems]


def _container(check: _Checker, opts: Mapping[str, Any], path: KeyPath) -> None:
    check.keys(opts, path, CONTAINER_OPTIONS)
    for key, kinds in CONTAINER_OPTIONS.items():
        if key in opts and not placeholders(opts[key]):
            names = " or ".join({list: "a list", str: "a string", int: "an integer", bool: "true/false",
                                  dict: "a table"}[k] for k in kinds)  # fmt: skip
            check.typed(opts, key, path, kinds, names)
    for key in ("cap_add", "cap_drop"):
        for cap in opts.get(key, []) if isinstance(opts.get(key), list) else []:
            if isinstance(cap, str) and cap.upper() != "ALL" and not placeholders(cap) and not capsmod.is_known(cap):
                check.error((*path, key), f"unknown capability {cap!r}")
    for n, ulimit in enumerate(opts.get("ulimits", []) if isinstance(opts.get("ulimits"), list) else []):
        if not isinstance(ulimit, dict) or set(ulimit) - {"name", "soft", "hard"} or "name" not in ulimit:
            check.error((*path, "ulimits", n), "each ulimit is a table { name = 'nofile', soft = 64, hard = 64 }")
    for n, opt in enumerate(opts.get("security_opt", []) if isinstance(opts.get("security_opt"), list) else []):
        if not isinstance(opt, str):
            check.error((*path, "security_opt", n), f"expected a string, got {opt!r}")
        elif not re.match(r"^(seccomp|apparmor|label|no-new-privileges|systempaths)([=:].*)?$", opt):
            check.error((*path, "security_opt", n), f"unknown security option {opt!r}")
        elif opt.startswith("seccomp=") and opt != "seccomp=unconfined" and not placeholders(opt):
            profile = check.base / opt.split("=", 1)[1]
            check.problems.extend(seccomp_problems(profile, check.file, (*path, "security_opt", n), check))


def seccomp_problems(profile: Path, file: str, path: KeyPath, check: _Checker | None = None) -> list[Problem]:
    """Problems with a seccomp profile file: missing, not JSON, not a profile. Empty when fine."""
    line = check.line(path) if check else None
    key = format_path(path)
    try:
        text = profile.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [Problem(file, line, key, f"seccomp profile not found: {profile}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(file, line, key, f"cannot read seccomp profile {profile}: {exc}")]
    return [Problem(file, line, key, m) for m in seccomp_text_problems(text, str(profile))]


def seccomp_text_problems(text: str, name: str) -> list[str]:
    """Validate seccomp profile JSON the way the engine would reject it, naming the profile's line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"invalid JSON in seccomp profile {name} at line {exc.lineno} column {exc.colno}: {exc.msg}"]
    if not isinstance(data, dict):
        return [f"seccomp profile {name} must be a JSON object"]
    problems = []
    if not isinstance(data.get("defaultAction"), str) or not data["defaultAction"].startswith("SCMP_ACT_"):
        problems.append(f"seccomp profile {name}: 'defaultAction' must be an SCMP_ACT_* string")
    syscalls = data.get("syscalls", [])
    if not isinstance(syscalls, list):
        problems.append(f"seccomp profile {name}: 'syscalls' must be a list")
        syscalls = []
    for n, rule in enumerate(syscalls):
        if not isinstance(rule, dict):
            problems.append(f"seccomp profile {name}: syscalls[{n}] must be an object")
            continue
        names = rule.get("names", [rule["name"]] if "name" in rule else None)
        if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
            problems.append(f"seccomp profile {name}: syscalls[{n}] needs 'names' (a list of syscall names)")
        if not isinstance(rule.get("action"), str) or not rule["action"].startswith("SCMP_ACT_"):
            problems.append(f"seccomp profile {name}: syscalls[{n}].action must be an SCMP_ACT_* string")
    return problems


def _steps(
    check: _Checker, raw: Any, path: KeyPath, timeout: float, file: Path, host: bool = False
) -> tuple[Step, ...]:
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


def _host_step(check: _Checker, raw: dict[str, Any], path: KeyPath) -> tuple[str, dict[str, Any]] | None:
    """(kind, table) of a host step: cli, push, notary or scan, each checked for its shape."""
    check.keys(raw, path, HOST_STEP_KEYS)
    commands = [k for k in HOST_COMMAND_KEYS if k in raw]
    if len(commands) != 1:
        check.error(path, f"a host step needs exactly one of {', '.join(HOST_COMMAND_KEYS)}; got {commands or 'none'}")
        return None
    kind, value = commands[0], raw[commands[0]]
    if kind == "cli" and not (
        isinstance(value, list) and value[:1] == ["docker"] and all(isinstance(v, str) for v in value)
    ):
        check.error((*path, "cli"), f"expected a docker CLI argv starting with 'docker', got {value!r}")
    elif kind == "push" and not (isinstance(value, dict) and isinstance(value.get("ref"), str)
                                 and set(value) <= {"ref", "variant", "signed"}):  # fmt: skip
        check.error((*path, "push"), "expected { ref = '...', variant = '...', signed = true|false }")
    elif kind == "notary" and value != "stop":
        check.error((*path, "notary"), "the only notary action is 'stop'")
    elif kind == "scan" and not (isinstance(value, dict) and isinstance(value.get("target"), str)
                                 and isinstance(value.get("feed"), str)
                                 and set(value) <= {"target", "feed", "severity", "threshold", "backend"}):  # fmt: skip
        check.error((*path, "scan"), "expected { target = IMAGE, feed = PATH, severity = 'High', threshold = 15 }")
    check.typed(raw, "content_trust", path, (bool,), "true/false")
    check.typed(raw, "client", path, (str,), "a client name ('default', 'fresh' or any name)")
    return kind, {k: raw[k] for k in (kind, *HOST_STEP_OPTIONS) if k in raw}


def _step(check: _Checker, raw: dict[str, Any], path: KeyPath, timeout: float, host: bool = False) -> Step | None:
    before = len(check.problems)
    if host:
        found = _host_step(check, raw, path)
        exp = _expectation(check, raw, path, "host")
        if not any(k in raw for k in STEP_EXPECT_KEYS):
            check.error(path, f"the step asserts nothing: add one of {', '.join(STEP_EXPECT_KEYS)}")
        control = check.typed(raw, "control", path, (bool,), "true/false") or False
        step_timeout = _timeout(check, raw, path, max(timeout, 60.0))
        if found is None or exp is None or len(check.problems) > before:
            return None
        kind, table = found
        name = raw.get("name") if isinstance(raw.get("name"), str) else kind
        return Step(name, kind, (), None, step_timeout, bool(control), exp, None, check.line(path), host=table)
    check.keys(raw, path, STEP_KEYS)
    commands = [k for k in STEP_COMMAND_KEYS if k in raw]
    reads_status = any(k in raw for k in ("proc_status", *CAP_FIELDS))
    if not commands and reads_status:
        raw = {**raw, "exec": list(PROC_STATUS_ARGV)}
        commands = ["exec"]
    if len(commands) != 1:
        check.error(path, f"a step needs exactly one of {', '.join(STEP_COMMAND_KEYS)}; got {commands or 'none'}")
        _expectation(check, raw, path, "wait" if "wait" in raw else "exec")  # report the step's other problems too
        _timeout(check, raw, path, timeout)
        return None
    kind, argv = "exec", ()
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
    step_timeout = _timeout(check, raw, path, timeout)
    if len(check.problems) > before or exp is None:
        return None
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""
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
    )


def _expectation(check: _Checker, raw: dict[str, Any], path: KeyPath, kind: str) -> Expectation | None:
    exit_code: tuple[int, ...] | None = None
    if "exit_code" in raw:
        value = raw["exit_code"]
        if isinstance(value, int) and not isinstance(value, bool):
            exit_code = (value,)
        elif isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            exit_code = tuple(value)
        else:
            check.error((*path, "exit_code"), f"expected an integer or a non-empty list of integers, got {value!r}")
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


def _control(check: _Checker, raw: Any, path: KeyPath, timeout: float, file: Path) -> ControlRun | None:
    if not isinstance(raw, dict):
        check.error(path, "must be a table with container overrides and [[case.control.step]]")
        return None
    check.keys(raw, path, {"container", "step"})
    container = raw.get("container", {})
    if not isinstance(container, dict):
        check.error((*path, "container"), "must be a table")
        container = {}
    _container(check, container, (*path, "container"))
    steps = _steps(check, raw.get("step"), (*path, "step"), timeout, file)
    if not steps and not raw.get("step"):
        check.error((*path, "step"), "a control needs at least one [[case.control.step]] that must succeed")
    return ControlRun(container, steps, check.line(path))
