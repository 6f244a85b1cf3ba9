"""The TOML line index: which line defines each key path, so every problem can name its line."""

from __future__ import annotations

import sys

import pytest

from hardlab.spec.tomlpos import format_path, line_index, line_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DOC = """\
schema_version = 1
[scenario]
title = "t"
[inputs."my.profile"]
kind = "seccomp"
  [[case]]   # first case
id = "a"
container.cap_add = ["NET_RAW"]
"quoted key" = 1
[[case.step]]
exec = ["true"]
[[case.step]]
exec = ["false"]
[case.control]
container = { privileged = true }
[[case.control.step]]
exec = ["id"]
[[case]]
id = "b"
step = [{ exec = ["true"] }, { exec = ["id"] }]
"""


def test_doc_is_valid_toml() -> None:
    tomllib.loads(DOC)  # the index is only ever asked about files tomllib accepted


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("schema_version",), 1),
        (("scenario",), 2),
        (("scenario", "title"), 3),
        (("inputs", "my.profile"), 4),
        (("inputs", "my.profile", "kind"), 5),
        (("case", 0), 6),  # indented header with a trailing comment
        (("case", 0, "id"), 7),
        (("case", 0, "container", "cap_add"), 8),  # dotted key
        (("case", 0, "quoted key"), 9),
        (("case", 0, "step", 0), 10),
        (("case", 0, "step", 0, "exec"), 11),
        (("case", 0, "step", 1), 12),
        (("case", 0, "step", 1, "exec"), 13),
        (("case", 0, "control"), 14),
        (("case", 0, "control", "container"), 15),
        (("case", 0, "control", "step", 0), 16),
        (("case", 0, "control", "step", 0, "exec"), 17),
        (("case", 1), 18),  # array entries are counted per array
        (("case", 1, "id"), 19),
        (("case", 1, "step"), 20),
    ],
)
def test_line_index(path: tuple[str | int, ...], line: int) -> None:
    assert line_index(DOC)[path] == line


def test_line_of_falls_back_to_the_nearest_ancestor() -> None:
    index = line_index(DOC)
    # Keys inside inline tables and inline arrays have no line of their own.
    assert line_of(index, ("case", 0, "control", "container", "privileged")) == 15
    assert line_of(index, ("case", 1, "step", 1, "exec")) == 20
    assert line_of(index, ("case", 0, "step", 1, "exit_code")) == 12
    assert line_of(index, ("nothing", "here")) is None
    assert line_of(index, ()) is None


def test_multiline_strings_are_skipped() -> None:
    text = '''\
a = """
[[case]]
b = 1
"""
c = \'\'\'
# not a comment
[[case]]
d = 2\'\'\'
e = """one line"""
f = 3
[[case]]
'''
    tomllib.loads(text)
    index = line_index(text)
    assert index == {("a",): 1, ("c",): 5, ("e",): 9, ("f",): 10, ("case", 0): 11}


def test_comments_and_brackets_in_values_are_not_headers() -> None:
    text = """\
# [[case]]
a = "[[case]]"  # [scenario]
b = ["[x]", "y"]
[[case]]
"""
    tomllib.loads(text)
    assert line_index(text) == {("a",): 2, ("b",): 3, ("case", 0): 4}


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("case", 2, "step", 0, "exit_code"), "case[2].step[0].exit_code"),
        (("schema_version",), "schema_version"),
        (("case", 0), "case[0]"),
        (("inputs", "p", "default"), "inputs.p.default"),
        ((), ""),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


# The scanner decides "a multi-line string opens here" by counting triple quotes in the text after
# `key =` only: a triple quote in a comment or inside a one-line string opens a phantom string that
# swallows the following lines, and a multi-line string that is an array element is not seen at all.
TRIPLE_QUOTE_TRAPS = [
    pytest.param(
        'exec = ["true"]  # not a """ docstring\nexit_code = 0\n[[case]]\n',
        {("exec",): 1, ("exit_code",): 2, ("case", 0): 3},
        id="triple-quote-in-a-comment",
    ),
    pytest.param(
        'shell = \'echo """\'\nexit_code = 0\n[[case]]\n',
        {("shell",): 1, ("exit_code",): 2, ("case", 0): 3},
        id="triple-quote-in-a-literal-string",
    ),
    pytest.param(
        'exec = [\n  "python3", "-c",\n  """\nexit_code = 7\n[[case]]\n""",\n]\nexit_code = 0\n[[case]]\n',
        {("exec",): 1, ("exit_code",): 8, ("case", 0): 9},
        id="multiline-string-as-an-array-element",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TRIPLE_QUOTE_TRAPS)
def test_triple_quotes_outside_a_multiline_opener(text: str, expected: dict[tuple[str | int, ...], int]) -> None:
    tomllib.loads(text)
    assert line_index(text) == expected
