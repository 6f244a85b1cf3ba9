"""Untrusted submissions: find students and read their files and build folders without leaving their folder.
Pure: no pytest, no docker. The run options they ask for are judged in `hardlab.grading.options`, their
Dockerfiles in `hardlab.grading.dockerfile`.

Every refusal is a `SubmissionError` whose message names the student's file (and line when there is one):
it becomes a graded failure, never an exception that stops the class.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hardlab.errors import BadInput

STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SubmissionError(BadInput):
    """A submission the grader refuses; the message is what the student reads."""


def confined_relpath(value: str) -> str | None:
    """Why `value` cannot name a file inside a student's folder, or None when it can."""
    if not value or not value.strip():
        return "is empty"
    if "\\" in value or "\0" in value:
        return f"{value!r} must use '/' and no NUL"
    pure = PurePosixPath(value)
    if pure.is_absolute():
        return f"{value!r} is absolute; write a path relative to the student's folder"
    if any(part in {"..", ""} for part in value.split("/")) or value.startswith("./.."):
        return f"{value!r} climbs out of the student's folder"
    return None


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
