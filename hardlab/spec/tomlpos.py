"""Line numbers for TOML key paths.

`tomllib` gives values but no positions, and every error must name the line. This scanner tracks
table headers (counting `[[array]]` entries) and `key =` lines, which is all a scenario file uses.
"""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


_TOKEN = re.compile(r'"""|' + r"'''" + r'|"(?:[^"\\]|\\.)*"' + r"|'[^']*'|#")


def _open_multiline(text: str) -> str | None:
    """The multi-line string delimiter still open at the end of `text` (one-line strings and comments skipped)."""
    pos = 0
    while found := _TOKEN.search(text, pos):
        token = found.group(0)
        if token == "#":
            return None
        if token in ('"""', "'''"):
            end = text.find(token, found.end())
            if end == -1:
                return token
            pos = end + 3
        else:
            pos = found.end()
    return None


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def line_index(text: str) -> dict[KeyPath, int]:
    """Map each key path (array entries as ints) to the 1-based line that defines it."""
    index: dict[KeyPath, int] = {}
    arrays: dict[KeyPath, int] = {}
    current: KeyPath = ()
    in_multiline: str | None = None

    def resolve(parts: list[str]) -> KeyPath:
        out: KeyPath = ()
        for part in parts:
            out = (*out, part)
            if out in arrays:
                out = (*out, arrays[out])
        return out

    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            end = line.find(in_multiline)
            if end != -1:
                in_multiline = _open_multiline(line[end + 3 :])
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            parts = _split_dotted(header.group(2))
            if header.group(1) == "[[":
                prefix = resolve(parts[:-1])
                full = (*prefix, parts[-1])
                arrays[full] = arrays.get(full, -1) + 1
                current = (*full, arrays[full])
            else:
                current = resolve(parts)
            index.setdefault(current, lineno)
            continue
        key = _KEY.match(line)
        if key:
            index.setdefault((*current, *_split_dotted(key.group(1))), lineno)
        # Not only after `key =`: an element of a multi-line array can open a multi-line string too.
        in_multiline = _open_multiline(line[key.end() :] if key else line)
    return index


def line_of(index: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one, or (a table only dotted keys made)
    the first line of a key below it."""
    probe = tuple(path)
    while probe:
        if probe in index:
            return index[probe]
        probe = probe[:-1]
    below = [line for key, line in index.items() if key[: len(path)] == tuple(path)] if path else []
    return min(below) if below else None


def format_path(path: KeyPath) -> str:
    """('case', 2, 'step', 0, 'exit_code') -> 'case[2].step[0].exit_code'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Deeper than any scenario needs, far below what makes the parser (or a deepcopy) overflow Python's stack.
MAX_NESTING = 32


def too_deep(text: str, limit: int = MAX_NESTING) -> int | None:
    """The first line where arrays and inline tables nest deeper than `limit`, or None.

    `tomllib` parses nested values recursively: a hostile file of a few thousand `[` overflows the stack.
    This scan (strings and comments skipped) runs before the parser, so such a file is one sentence."""
    depth, line, pos, size = 0, 1, 0, len(text)
    while pos < size:
        char = text[pos]
        if char == "\n":
            line += 1
        elif char == "#":
            end = text.find("\n", pos)
            pos = size if end == -1 else end
            continue
        elif char in "\"'":
            quote = text[pos : pos + 3] if text[pos : pos + 3] in ('"""', "'''") else char
            end = pos + len(quote)
            while end < size and not text.startswith(quote, end):
                if text[end] == "\n" and len(quote) == 1:
                    break  # an unterminated one-line string: the parser reports it
                end += 2 if text[end] == "\\" and char == '"' else 1
            for _ in range(2 if len(quote) == 3 else 0):  # '""""' ends with a quote inside the string
                end += 1 if text[end + 3 : end + 4] == char else 0
            line += text.count("\n", pos, end)
            pos = end + (len(quote) if text.startswith(quote, end) else 0)
            continue
        elif char in "[{":
            depth += 1
            if depth > limit:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
        pos += 1
    return None
