"""A submitted Dockerfile, checked for the course builder: one stage FROM a lab image (builds never pull),
only the instructions it runs, COPY sources confined to the build folder. Pure: no pytest, no docker."""

from __future__ import annotations

import json
import re

from hardlab.grading.submit import SubmissionError, confined_relpath

_PORT = re.compile(r"^[0-9]{1,5}(/(tcp|udp|sctp))?$")


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
