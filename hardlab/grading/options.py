"""A submission's run options: the TOML file read and typed like a scenario's container table, the seccomp
profiles it names staged from inside the submission, and each option judged against the assignment's
allow-list and the course limits. Pure: no pytest, no docker."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab import spec
from hardlab.grading.limits import Limits, size_bytes
from hardlab.grading.submit import SubmissionError, confined_relpath, read_text
from hardlab.spec import caps as capsmod

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Below this the grader's own `docker exec` (runc init's threads count as pids) fails at random: no answer
# under it can be graded deterministically.
MIN_PIDS_LIMIT = 16

# Run options any submission may set, within the course limits: they only take power away.
SAFE_OPTIONS = {"cap_drop", "read_only", "user", "pids_limit", "mem_limit", "nano_cpus", "security_opt",
                "init", "working_dir", "environment", "group_add"}  # fmt: skip
# What a submission's security_opt may hold without an allow-list entry: only tightening.
SAFE_SECURITY_OPTS = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
# Why an option is dangerous, for the message a student reads.
RISKY = {
    "privileged": "--privileged gives the container every capability and every host device",
    "volumes": "a host mount (or the Docker socket) lets the container reach the host's files",
    "devices": "a host device gives the container direct access to host hardware",
    "network_mode": "host networking shares the host's network stack",
    "pid_mode": "the host PID namespace exposes every host process",
    "ipc_mode": "the host IPC namespace exposes host shared memory",
    "userns_mode": "userns_mode=host turns off user-namespace remapping",
    "cap_add": "an added capability gives the container more power than the default",
    "sysctls": "sysctls change kernel settings",
    "oom_kill_disable": "disabling the OOM killer can hang the host",
    "command": "the command is the grader's, not the submission's",
    "entrypoint": "the entrypoint is the grader's, not the submission's",
}


def read_seccomp(text: str, shown: str) -> None:
    problems = spec.seccomp_text_problems(text, shown)
    if problems:
        raise SubmissionError("; ".join(problems))


def parse_options(text: str, shown: str) -> dict[str, Any]:
    """A submitted run-options file (TOML: `cap_drop = ["ALL"]`), typed like a scenario's container table."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = spec.toml_error_line(str(exc))
        raise SubmissionError(f"{shown}:{line or '?'}: invalid TOML: {exc}") from None
    check = spec.Checker(shown, text, Path("."))
    # Profile paths are the submission's and are read from it alone (stage_option_files): the checker
    # would open them on the host, with no size bound, and its message would tell what exists there.
    spec.check_container(check, {**table, "security_opt": _without_profiles(table)} if "security_opt" in table
                         else table, ())  # fmt: skip
    if check.problems:
        raise SubmissionError("; ".join(str(p) for p in check.problems))
    return table


def _profile_ref(opt: Any) -> str | None:
    """The path of a `seccomp=PATH` security option, or None for any other value."""
    if isinstance(opt, str) and opt.startswith("seccomp=") and opt != "seccomp=unconfined":
        return opt.split("=", 1)[1]
    return None


def _without_profiles(table: Mapping[str, Any]) -> Any:
    value = table["security_opt"]
    return [o for o in value if _profile_ref(o) is None] if isinstance(value, list) else value


OUTSIDE_PROFILE = ("a seccomp profile must be a file inside your submission, named by a path relative to your "
                   "folder (no leading '/', no '..')")  # fmt: skip


def stage_option_files(
    table: Mapping[str, Any], folder: Path, student: str, shown: str, dest: Path, limits: Limits
) -> dict[str, Any]:
    """Run options with every file they name (`security_opt = ["seccomp=PATH"]`) read from inside the
    submission only, bounded and validated, and replaced by the grader's copy. A path that leaves the
    submission is refused before anything is opened, with one message whether or not it exists."""
    opts = table.get("security_opt")
    if not isinstance(opts, list) or all(_profile_ref(o) is None for o in opts):
        return dict(table)
    out = []
    for n, opt in enumerate(opts):
        ref = _profile_ref(opt)
        if ref is None:
            out.append(opt)
            continue
        if confined_relpath(ref) is not None:
            raise SubmissionError(f"{shown}: security_opt[{n}]: {OUTSIDE_PROFILE}")
        where = f"{student}/{ref}"
        text = read_text(folder, ref, where, limits.max_file_bytes)
        read_seccomp(text, where)
        dest.mkdir(parents=True, exist_ok=True)
        staged = dest / f"seccomp-{n}.json"
        staged.write_text(text, encoding="utf-8")
        out.append(f"seccomp={staged.resolve()}")
    return {**table, "security_opt": out}


def option_problems(table: Mapping[str, Any], allow: Mapping[str, tuple[Any, ...]], limits: Limits) -> list[str]:
    """Why each requested run option is refused: outside the allow-list, or above a course limit."""
    out = []
    for key, value in table.items():
        allowed = allow.get(key)
        if key in {"cap_add", "cap_drop"}:
            out += _caps(key, value, allowed)
        elif key == "security_opt":
            extra = [v for v in value if v not in SAFE_SECURITY_OPTS and v not in (allowed or ())]
            if extra:
                out.append(f"security_opt {extra[0]!r} is not allowed here (allowed: "
                           f"{', '.join(sorted(SAFE_SECURITY_OPTS | set(allowed or ())))})")  # fmt: skip
        elif allowed is not None:
            values = list(value) if isinstance(value, (list, dict)) else [value]
            bad = [v for v in values if v not in allowed]
            if bad:
                out.append(f"{key} = {bad[0]!r} is not allowed here (allowed: {', '.join(map(repr, allowed))})")
        elif key not in SAFE_OPTIONS:
            why = RISKY.get(key, "this assignment does not allow it")
            out.append(f"{key} is not allowed in this assignment: {why}")
        out += _limit_problems(key, value, limits)
    return out


def _caps(key: str, value: list[str], allowed: tuple[Any, ...] | None) -> list[str]:
    names = ["ALL" if str(v).upper() == "ALL" else capsmod.normalize(str(v)) for v in value]
    if key == "cap_drop" and allowed is None:
        return []  # dropping only takes power away
    permitted = set(allowed or ())
    bad = [n for n in names if n not in permitted]
    if not bad:
        return []
    if permitted:
        return [f"{key} {bad[0]} is not allowed here (this assignment allows only {', '.join(sorted(permitted))})"]
    return [f"{key} {bad[0]} is not allowed in this assignment: {RISKY['cap_add']}"]


def _limit_problems(key: str, value: Any, limits: Limits) -> list[str]:
    if key == "pids_limit" and isinstance(value, int):
        if value <= 0:
            return [f"pids_limit = {value} means no limit; the course allows at most {limits.pids_limit}"]
        if value < MIN_PIDS_LIMIT:
            return [f"pids_limit = {value} is below {MIN_PIDS_LIMIT}: not even the grader's exec could start "
                    "(its threads count as pids)"]  # fmt: skip
        if value > limits.pids_limit:
            return [f"pids_limit = {value} is above the course limit {limits.pids_limit}"]
    if key == "mem_limit":
        try:
            if size_bytes(value) > limits.mem_bytes or size_bytes(value) <= 0:
                return [f"mem_limit = {value!r} is above the course limit {limits.mem_limit}"]
        except ValueError as exc:
            return [f"mem_limit: {exc}"]
    if key == "nano_cpus" and isinstance(value, int) and not 0 < value <= limits.nano_cpus:
        return [f"nano_cpus = {value} is outside the course limit (1..{limits.nano_cpus})"]
    return []
