"""Untrusted submissions: find students, read their files without leaving their folder, and judge the run
options and Dockerfiles they ask for against the assignment's allow-list. Pure: no pytest, no docker.

Every refusal is a `SubmissionError` whose message names the student's file (and line when there is one):
it becomes a graded failure, never an exception that stops the class.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hardlab import spec
from hardlab.errors import BadInput
from hardlab.grading.course import Limits, confined_relpath, size_bytes
from hardlab.spec import caps as capsmod

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Below this the grader's own `docker exec` (runc init's threads count as pids) fails at random: no answer
# under it can be graded deterministically.
MIN_PIDS_LIMIT = 16
STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

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


class SubmissionError(BadInput):
    """A submission the grader refuses; the message is what the student reads."""


def students(root: Path) -> tuple[list[str], list[str]]:
    """(student folder names, sorted; problems with entries that are not usable student folders)."""
    names, problems = [], []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            problems.append(f"{entry.name}: is a symlink, not a folder; ignored")
        elif not entry.is_dir(follow_symlinks=False):
            problems.append(f"{entry.name}: is not a folder; ignored")
        elif not STUDENT.match(entry.name):
            problems.append(f"{entry.name!r}: not a usable student name (letters, digits, . _ -); ignored")
        else:
            names.append(entry.name)
    return names, problems


def confine(student_dir: Path, rel: str, shown: str) -> Path:
    """The regular file `rel` inside `student_dir`, refusing `..`, absolute paths and any symlink on the way."""
    why = confined_relpath(rel)
    if why:
        raise SubmissionError(f"{shown}: {why}")
    current = student_dir
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    for n, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise SubmissionError(f"{shown}: file not found (the course expects it at {rel})") from None
        if stat.S_ISLNK(info.st_mode):
            raise SubmissionError(f"{shown}: {'/'.join(parts[: n + 1])} is a symlink; submit the file itself")
        last = n == len(parts) - 1
        if not last and not stat.S_ISDIR(info.st_mode):
            raise SubmissionError(f"{shown}: {'/'.join(parts[: n + 1])} is not a folder")
        if last and not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{shown}: is not a regular file")
    return current


def read_text(path: Path, shown: str, max_bytes: int) -> str:
    """A submitted text file: bounded size, no NUL bytes, valid UTF-8 (the error says where)."""
    size = os.lstat(path).st_size
    if size > max_bytes:
        raise SubmissionError(f"{shown}: {size} bytes is more than the course allows ({max_bytes} bytes)")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SubmissionError(f"{shown}: more than the course allows ({max_bytes} bytes)")
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise SubmissionError(f"{shown}: line {line}: a binary file (NUL byte); submit a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubmissionError(f"{shown}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


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
    spec.check_container(check, table, ())
    if check.problems:
        raise SubmissionError("; ".join(str(p) for p in check.problems))
    return table


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


# ---- Dockerfiles -------------------------------------------------------------------------------------------

def dockerfile_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with `\\` continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1].rstrip() + " "
            continue
        out.append((start, buf + stripped))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


# The instructions the course builder runs (each RUN in its own limited container, then committed).
DOCKERFILE_INSTRUCTIONS = {"FROM", "RUN", "USER", "WORKDIR", "ENV", "LABEL", "CMD", "ENTRYPOINT", "COPY", "EXPOSE"}


def parse_dockerfile(text: str, shown: str, lab_images: set[str]) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) for a Dockerfile the course can build offline, or SubmissionError.

    Builds never pull: the one stage starts FROM a lab image (lab:busybox, lab:tools)."""
    out: list[tuple[int, str, str]] = []
    for line, instr in dockerfile_lines(text):
        word, _, rest = instr.partition(" ")
        word, rest = word.upper(), rest.strip()
        where = f"{shown}: line {line}"
        if word == "FROM":
            if out:
                raise SubmissionError(f"{where}: a second FROM: multi-stage builds are not supported by the course "
                                      "builder; use one stage")  # fmt: skip
            args = rest.split()
            if not args or args[0].startswith("--"):
                raise SubmissionError(f"{where}: expected 'FROM image'")
            if args[0] not in lab_images:
                known = ", ".join(sorted(lab_images))
                raise SubmissionError(
                    f"{where}: FROM {args[0]} would need a pull from a registry; this course builds offline: "
                    f"start FROM one of the lab images ({known})"
                )
            if len(args) not in (1, 3):
                raise SubmissionError(f"{where}: expected 'FROM image' or 'FROM image AS name'")
            out.append((line, word, args[0]))
            continue
        if not out:
            raise SubmissionError(f"{where}: the first instruction must be FROM, got {word}")
        if word == "ADD":
            raise SubmissionError(f"{where}: ADD is not supported (from a URL it would need the network); "
                                  "use COPY with a file you submit")  # fmt: skip
        if word not in DOCKERFILE_INSTRUCTIONS:
            raise SubmissionError(f"{where}: {word} is not supported by the course builder "
                                  f"(supported: {', '.join(sorted(DOCKERFILE_INSTRUCTIONS))})")  # fmt: skip
        if not rest:
            raise SubmissionError(f"{where}: {word} needs arguments")
        if word == "RUN" and rest.startswith("--"):
            raise SubmissionError(f"{where}: RUN flags ({rest.split()[0]}) are not allowed here")
        if word == "COPY":
            copy_args(rest, where)
        out.append((line, word, rest))
    if not out:
        raise SubmissionError(f"{shown}: no FROM instruction")
    return out


def copy_args(rest: str, where: str) -> tuple[list[str], str]:
    """COPY src... dest, with every source confined to the build folder."""
    if rest.startswith("["):
        try:
            parts = json.loads(rest)
        except json.JSONDecodeError:
            raise SubmissionError(f"{where}: COPY [...] must be a JSON list of strings") from None
    else:
        parts = rest.split()
    if any(p.startswith("--") for p in parts):
        raise SubmissionError(f"{where}: COPY flags ({parts[0]}) are not supported; RUN chown after COPY instead")
    if len(parts) < 2:
        raise SubmissionError(f"{where}: COPY needs a source and a destination")
    for src in parts[:-1]:
        why = confined_relpath(src.removeprefix("./") or ".") if src not in (".", "./") else None
        if why:
            raise SubmissionError(f"{where}: COPY {src}: {why}")
    return parts[:-1], parts[-1]


def stage_context(src: Path, dest: Path, shown: str, max_bytes: int, max_files: int = 500) -> None:
    """Copy a build folder into `dest`: regular files and folders only (a symlink is refused), bounded size."""
    total, count = 0, 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = Path(dirpath).relative_to(src)
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            info = os.lstat(path)
            where = f"{shown}/{(rel / name).as_posix()}"
            if stat.S_ISLNK(info.st_mode):
                raise SubmissionError(f"{where}: is a symlink; the build folder may hold only regular files")
            if stat.S_ISDIR(info.st_mode):
                (dest / rel / name).mkdir(parents=True, exist_ok=True)
                continue
            if not stat.S_ISREG(info.st_mode):
                raise SubmissionError(f"{where}: is not a regular file")
            total += info.st_size
            count += 1
            if total > max_bytes:
                raise SubmissionError(f"{shown}: the build folder is larger than the course allows ({max_bytes} bytes)")
            if count > max_files:
                raise SubmissionError(f"{shown}: the build folder holds more than {max_files} files")
            (dest / rel).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel / name, follow_symlinks=False)
