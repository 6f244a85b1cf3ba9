"""Untrusted submissions: find students, read their files without leaving their folder, and judge the run
options and Dockerfiles they ask for against the assignment's allow-list. Pure: no pytest, no docker.

Every refusal is a `SubmissionError` whose message names the student's file (and line when there is one):
it becomes a graded failure, never an exception that stops the class.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
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
_PORT = re.compile(r"^[0-9]{1,5}(/(tcp|udp|sctp))?$")
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
        shown = shown_name(entry.name)
        if entry.is_symlink():
            problems.append(f"{shown}: is a symlink, not a folder; ignored")
        elif not entry.is_dir(follow_symlinks=False):
            problems.append(f"{shown}: is not a folder; ignored")
        elif not STUDENT.match(entry.name):
            problems.append(f"'{shown}': not a usable student name (letters, digits, . _ -); ignored")
        else:
            names.append(entry.name)
    return names, problems


# Open flags for anything read from a submission: never follow a link, never block on a FIFO or a device,
# never make a terminal ours.
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
# Longest path (in bytes, inside the student's folder) the grader reads or names: a 5 KB path is refused
# with a sentence, not an ENAMETOOLONG traceback.
MAX_PATH_BYTES = 1024


def shown_name(name: str, limit: int = 120) -> str:
    """A file name as a student may read it: undecodable bytes and control characters escaped, long names cut."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def name_problem(name: str) -> str | None:
    """Why a file name inside a submission is refused (not UTF-8, control characters), or None."""
    try:
        os.fsencode(name).decode("utf-8")
    except UnicodeDecodeError:
        return "its name is not UTF-8; rename it"
    if not name.isprintable():
        return "its name holds control characters; rename it"
    return None


def _refuse_os(where: str, exc: OSError) -> SubmissionError:
    return SubmissionError(f"{where}: cannot be read ({exc.strerror or exc.__class__.__name__})")


def open_folder(student_dir: Path, rel: str, shown: str) -> int:
    """A descriptor of the folder `rel` ('.' for the student's own) inside `student_dir`, walked one name at
    a time without following any link: what it names cannot be swapped for a link between check and use."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    try:
        fd = os.open(student_dir, _OPEN_DIR)
    except OSError as exc:
        raise _refuse_os(shown, exc) from None
    for n, part in enumerate(parts):
        where = "/".join(parts[: n + 1])
        try:
            info = os.lstat(part, dir_fd=fd)
            if stat.S_ISLNK(info.st_mode):
                raise SubmissionError(f"{shown}: {where} is a symlink; submit the file itself")
            if not stat.S_ISDIR(info.st_mode):
                raise SubmissionError(f"{shown}: {where} is not a folder")
            child = os.open(part, _OPEN_DIR, dir_fd=fd)
        except FileNotFoundError:
            os.close(fd)
            raise SubmissionError(f"{shown}: file not found (the course expects it at {rel})") from None
        except SubmissionError:
            os.close(fd)
            raise
        except OSError as exc:
            os.close(fd)
            raise _refuse_os(shown, exc) from None
        os.close(fd)
        fd = child
    return fd


def read_at(dir_fd: int, name: str, shown: str, max_bytes: int) -> bytes:
    """The bytes of the regular file `name` in the folder `dir_fd`: opened without following a link, one
    link only (a hard link can carry any host file into the submission), at most `max_bytes`. A refusal
    names the file and never shows its content."""
    try:
        info = os.lstat(name, dir_fd=dir_fd)
        if stat.S_ISLNK(info.st_mode):
            raise SubmissionError(f"{shown}: is a symlink; submit the file itself")
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{shown}: is not a regular file")
        fd = os.open(name, _OPEN, dir_fd=dir_fd)
    except FileNotFoundError:
        raise SubmissionError(f"{shown}: file not found") from None
    except OSError as exc:
        raise _refuse_os(shown, exc) from None
    try:
        info = os.fstat(fd)  # the file actually opened, not the name looked at
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{shown}: is not a regular file")
        if info.st_nlink != 1:
            raise SubmissionError(
                f"{shown}: is a hard link ({info.st_nlink} names for one file); the grader reads only files with "
                "a single name: submit a copy of the file, not a link to it"
            )
        if info.st_size > max_bytes:
            raise SubmissionError(f"{shown}: {info.st_size} bytes is more than the course allows ({max_bytes} bytes)")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 16, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise _refuse_os(shown, exc) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise SubmissionError(f"{shown}: more than the course allows ({max_bytes} bytes)")
    return data


def read_file(student_dir: Path, rel: str, shown: str, max_bytes: int) -> bytes:
    """The checked bytes of the file `rel` inside `student_dir`: no `..`, no absolute path, no link of any
    kind on the way, a regular file with one name, bounded size. Raises SubmissionError naming `shown`."""
    why = confined_relpath(rel)
    if why:
        raise SubmissionError(f"{shown}: {why}")
    if len(os.fsencode(rel)) > MAX_PATH_BYTES:
        raise SubmissionError(f"{shown}: the path is longer than {MAX_PATH_BYTES} bytes")
    folder, _, name = rel.rstrip("/").rpartition("/")
    fd = open_folder(student_dir, folder or ".", shown)
    try:
        try:
            return read_at(fd, name, shown, max_bytes)
        except SubmissionError as exc:
            if str(exc) == f"{shown}: file not found":
                raise SubmissionError(f"{shown}: file not found (the course expects it at {rel})") from None
            raise
    finally:
        os.close(fd)


def decode_text(data: bytes, shown: str) -> str:
    """A submitted text file's content: no NUL bytes, valid UTF-8 (the error says where)."""
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise SubmissionError(f"{shown}: line {line}: a binary file (NUL byte); submit a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubmissionError(f"{shown}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def read_text(student_dir: Path, rel: str, shown: str, max_bytes: int) -> str:
    """A submitted text file, read as `read_file` does and decoded as `decode_text` does."""
    return decode_text(read_file(student_dir, rel, shown, max_bytes), shown)


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
        if word == "EXPOSE":
            bad = [p for p in rest.split() if not _PORT.match(p) or not 0 < int(p.split("/")[0]) < 65536]
            if bad:
                raise SubmissionError(f"{where}: EXPOSE {bad[0]}: expected a port number (1-65535), optionally "
                                      "/tcp or /udp")  # fmt: skip
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


@dataclass(frozen=True)
class ContextFile:
    """One checked file of a build folder: its bytes, and whether its owner may run it."""

    data: bytes
    executable: bool


Context = dict[str, "ContextFile | None"]  # relative path -> file, None for a folder


@dataclass
class _Budget:
    max_bytes: int
    max_files: int
    max_file_bytes: int
    used: int = 0


def read_context(
    student_dir: Path, rel: str, shown: str, max_bytes: int, max_files: int, max_file_bytes: int | None = None
) -> Context:
    """Every entry of the build folder `rel` inside `student_dir`, each file read as `read_at` reads.
    Folders count toward `max_files`; a symlink, a hard link, a device, a name that is not UTF-8 or a path
    longer than MAX_PATH_BYTES refuses the whole folder, naming the entry (never showing its content).
    The build context is assembled from these bytes, never from the student's folder."""
    out: Context = {}
    budget = _Budget(max_bytes, max_files, max_bytes if max_file_bytes is None else max_file_bytes)
    root = open_folder(student_dir, rel, shown)
    try:
        _walk(root, "", shown, out, budget)
    finally:
        os.close(root)
    return out


def _walk(fd: int, prefix: str, shown: str, out: Context, budget: _Budget) -> None:
    try:
        names = sorted(os.listdir(fd))
    except OSError as exc:
        raise _refuse_os(f"{shown}/{shown_name(prefix)}".rstrip("/"), exc) from None
    for name in names:
        rel = f"{prefix}{name}"
        where = f"{shown}/{shown_name(rel)}"
        why = name_problem(name)
        if why:
            raise SubmissionError(f"{where}: {why}")
        if len(os.fsencode(rel)) > MAX_PATH_BYTES:
            raise SubmissionError(f"{shown}/{shown_name(rel, 60)}: the path is longer than {MAX_PATH_BYTES} bytes; "
                                  "the build folder may not nest that deep")  # fmt: skip
        if len(out) >= budget.max_files:
            raise SubmissionError(f"{shown}: the build folder holds more than {budget.max_files} files and folders "
                                  "(folders count)")  # fmt: skip
        try:
            info = os.lstat(name, dir_fd=fd)
        except OSError as exc:
            raise _refuse_os(where, exc) from None
        if stat.S_ISLNK(info.st_mode):
            raise SubmissionError(f"{where}: is a symlink; the build folder may hold only regular files")
        if stat.S_ISDIR(info.st_mode):
            out[rel] = None
            try:
                child = os.open(name, _OPEN_DIR, dir_fd=fd)
            except OSError as exc:
                raise _refuse_os(where, exc) from None
            try:
                _walk(child, rel + "/", shown, out, budget)
            finally:
                os.close(child)
            continue
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{where}: is not a regular file")
        left = budget.max_bytes - budget.used
        if info.st_size > left:
            raise SubmissionError(f"{shown}: the build folder is larger than the course allows ({budget.max_bytes} "
                                  "bytes)")  # fmt: skip
        data = read_at(fd, name, where, min(left, budget.max_file_bytes))
        budget.used += len(data)
        out[rel] = ContextFile(data, bool(info.st_mode & 0o100))


def write_context(files: Context, dest: Path) -> None:
    """Lay the checked bytes out in the grader-owned `dest`: plain files and folders, the grader's modes."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel, item in sorted(files.items()):
        target = dest / rel
        if item is None:
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
            continue
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        target.write_bytes(item.data)
        target.chmod(0o755 if item.executable else 0o644)


def context_hash(files: Context) -> str:
    """A key for the built image: the same checked bytes build the same image within a run."""
    digest = hashlib.sha256()
    for rel, item in sorted(files.items()):
        digest.update(os.fsencode(rel) + (b"/" if item is None else b"\0"))
        if item is not None:
            digest.update(b"x" if item.executable else b"-")
            digest.update(len(item.data).to_bytes(8, "big") + item.data)
    return digest.hexdigest()[:16]
