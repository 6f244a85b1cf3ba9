"""Scenario schema: the malformed corpus (file, line, key path and message of every problem) and what a
valid file expands into."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hardlab import spec
from hardlab.errors import Problem

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MALFORMED = HERE / "malformed"
CORPUS = sorted(MALFORMED.glob("*.toml"))


@dataclass
class Expected:
    """One problem a corpus file must report: text fragments (all on the same line) and its line."""

    fragments: list[str]
    line: int | None = None
    has_line: bool = False


def corpus_expectations(path: Path) -> list[Expected]:
    """The leading comment block: `# expect: KEY: MESSAGE` is one problem's exact text after `FILE:LINE: `;
    `# and: ...` makes it fragments instead (each must be on the line: for parser messages that differ
    between Python versions, absolute paths); `# line: N` (or `none`) says where it must point."""
    out: list[Expected] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.startswith("#"):
            break
        tag, _, value = raw[1:].strip().partition(":")
        value = value.strip()
        if tag == "expect":
            out.append(Expected([value]))
        elif tag == "and":
            out[-1].fragments.append(value)
        elif tag == "line":
            out[-1].line = None if value == "none" else int(value)
            out[-1].has_line = True
    return out


def test_the_corpus_is_complete() -> None:
    assert len(CORPUS) >= 95  # malformed scenario files
    assert len(list(MALFORMED.glob("*.json"))) >= 15  # malformed seccomp profiles, each used by a scenario
    for path in CORPUS:
        assert re.match(r"^\d{2,3}-[a-z0-9-]+\.toml$", path.name), path.name
        expected = corpus_expectations(path)
        assert expected, f"{path.name}: no '# expect:' header"
        assert all(e.has_line for e in expected), f"{path.name}: every '# expect:' needs a '# line:'"
    # Every seccomp side file is used by the scenario of the same number.
    for profile in MALFORMED.glob("*.json"):
        assert any(profile.name in p.read_text(encoding="utf-8") for p in CORPUS), profile.name


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_malformed_file_reports_every_problem_with_file_line_and_key(path: Path) -> None:
    expected = corpus_expectations(path)
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(path, root=REPO)
    shown = f"tests/unit/malformed/{path.name}"
    text = str(caught.value)
    lines = text.splitlines()
    # One line per problem, no more: follow-on noise would bury the real mistake.
    assert len(lines) == len(caught.value.problems) == len(expected), text
    assert all(p.file == shown for p in caught.value.problems)
    unmatched = list(lines)
    for exp in expected:
        where = f"{shown}:{exp.line}: " if exp.line else f"{shown}: "
        if len(exp.fragments) == 1:
            hit = next((ln for ln in unmatched if ln == where + exp.fragments[0]), None)
        else:
            hit = next((ln for ln in unmatched if ln.startswith(where) and all(f in ln for f in exp.fragments)), None)
        assert hit, f"expected a problem at {where!r} containing {exp.fragments}; got:\n{text}"
        unmatched.remove(hit)


def test_the_toml_syntax_error_keeps_the_parsers_line_and_column() -> None:
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(MALFORMED / "01-toml-syntax.toml", root=REPO)
    (problem,) = caught.value.problems
    assert problem.line == 14
    assert "column 8" in problem.message


def test_an_unreadable_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(spec.ScenarioError) as caught:
        spec.load(missing)
    (problem,) = caught.value.problems
    assert problem.file == str(missing)
    assert problem.line is None
    assert "cannot read the file" in problem.message


def test_problem_text_without_a_line_or_key() -> None:
    assert str(Problem("a.toml", 3, "case[0].id", "bad")) == "a.toml:3: case[0].id: bad"
    assert str(Problem("a.toml", None, "", "bad")) == "a.toml: bad"
    err = spec.ScenarioError([Problem("a.toml", 1, "k", "one"), Problem("a.toml", 2, "", "two")])
    assert str(err) == "a.toml:1: k: one\na.toml:2: two"


VALID = """
[inputs.profile]
kind = "seccomp"
default = "profile.json"
description = "the profile under test"

[inputs.hardening]
kind = "options"
default = { read_only = true, cap_drop = ["ALL"] }

[inputs.note]
kind = "text"
default = "hello"

[defaults]
image = "lab:tools"
timeout = 20
container = { working_dir = "/tmp", environment = { LANG = "C" } }

[[case]]
id = "deny-${syscall}"
title = "${syscall} is refused"
parametrize = [{ syscall = "mount", caps = ["SYS_ADMIN"] }, { syscall = "swapon", caps = ["SYS_ADMIN", "MKNOD"] }]
container = { security_opt = ["seccomp=${profile}"], cap_add = "${caps}", environment = { MODE = "strict" } }
use_inputs = ["hardening"]

[[case.step]]
syscall = "getpid"
control = true
errno = "OK"

[[case.step]]
syscall = "--abi i386 ${syscall}"
errno = ["EPERM", "EACCES"]
timeout = 5

[[case]]
id = "status"
image = "lab:busybox"
container = { privileged = true, pids_limit = 64 }
no_control_reason = "reads its own status only"

[[case.step]]
cap_eff = []
proc_status = { NoNewPrivs = 1, Seccomp = "2" }

[[case.step]]
wait = true
oom_killed = false
exit_code = [0, 137]
user = 1000

[[case.step]]
shell = "echo ${note}"
stdout_contains = "hello"
skip_when = { stdout_contains = "not supported", reason = "the kernel lacks it" }
"""
PROFILE = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]}'


def test_a_valid_file_expands_parametrize_defaults_and_step_kinds(load_scenario, tmp_path: Path) -> None:
    sc = load_scenario(VALID, profile_json=PROFILE)
    assert sc.id == "unit"
    assert [c.id for c in sc.cases] == ["deny-mount", "deny-swapon", "status"]
    mount, swapon, status = sc.cases

    assert mount.title == "mount is refused"
    assert mount.image == "lab:tools"  # from [defaults]
    # A parameter that is the whole string keeps its type (a list fills cap_add).
    assert mount.container["cap_add"] == ["SYS_ADMIN"]
    assert swapon.container["cap_add"] == ["SYS_ADMIN", "MKNOD"]
    # Tables from [defaults] merge key by key under the case's own.
    assert mount.container["environment"] == {"LANG": "C", "MODE": "strict"}
    assert mount.container["working_dir"] == "/tmp"
    # Inputs are bound at run time, not at load.
    assert mount.container["security_opt"] == ["seccomp=${profile}"]
    assert mount.use_inputs == ("hardening",)
    assert "seccomp" in mount.requires  # implied by the seccomp= option

    control, probe = mount.steps
    assert control.control and not probe.control
    assert control.argv == (spec.PROBE, "getpid")
    assert control.timeout == 20.0  # the [defaults] timeout reaches the steps
    assert probe.argv == (spec.PROBE, "--abi", "i386", "mount")
    assert probe.timeout == 5.0
    assert probe.expect.errno == ("EPERM", "EACCES")
    assert swapon.steps[1].argv == (spec.PROBE, "--abi", "i386", "swapon")

    assert status.image == "lab:busybox"
    assert status.requires == ("privileged", "cgroup-pids")
    read, wait, shell = status.steps
    # A step with only status expectations reads /proc/1/status (and the kernel's cap width).
    assert read.argv == spec.PROC_STATUS_ARGV
    assert read.name == "read /proc/1/status"
    assert read.expect.caps == (("CapEff", ("@none",)),)  # cap_eff = [] means "no capabilities"
    assert read.expect.proc_status == (("NoNewPrivs", "1"), ("Seccomp", "2"))
    assert read.timeout == 20.0
    assert wait.kind == "wait" and wait.argv == ()
    assert wait.expect.exit_code == (0, 137)
    assert wait.expect.oom_killed is False
    assert wait.user == "1000"
    assert wait.display == "(wait for the container's main process to exit)"
    assert shell.argv == ("/bin/sh", "-c", "echo ${note}")
    assert shell.display == "echo ${note}"
    assert shell.expect.stdout_contains == ("hello",)  # a single string is a one-item list
    assert shell.skip_when == spec.SkipWhen("not supported", "the kernel lacks it")

    assert sc.inputs["profile"].kind == "seccomp"
    assert sc.inputs["profile"].base == tmp_path
    assert sc.inputs["hardening"].default == {"read_only": True, "cap_drop": ["ALL"]}


COMMENT_LADEN = '''
description = """
[[case]]
id = "not-a-case"   # looks like a key and a comment
exit_code = 'still text'
"""

[[case]]  # @case0
id = "a"
title = \'\'\'a title that
[[case.step]]
exit_code = 99
\'\'\'
# [[case]] a commented-out header
#[[case.step]]

[[case.step]]  # @case0-step0
name = "x"
shell = """
# a shell comment, not TOML
[[case]]
echo ok = fine
"""
control = true  # a comment with "quotes", 'quotes' and [brackets]
exit_code = 0

[case.control]  # @case0-control
container = { security_opt = [] }

[[case.control.step]]  # @case0-control-step0
exec = ["true"]
exit_code = 0

[[case]]  # @case1
id = "b"
no_control_reason = "line-index test"

[[case.step]]  # @case1-step0
exec = ["true"]
exit_code = 0

[[case.step]]  # @case1-step1
exec = ["false"]
exit_code = 1
'''


def _marker_line(path: Path, marker: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.endswith(f"# {marker}"):
            return n
    raise AssertionError(marker)


def test_comment_laden_multiline_strings_do_not_shift_lines(write_scenario) -> None:
    path = write_scenario(COMMENT_LADEN)
    sc = spec.load(path)
    assert sc.line == 3  # [scenario] in the shared header
    a, b = sc.cases
    assert a.title.startswith("a title that\n[[case.step]]")
    assert a.line == _marker_line(path, "@case0")
    assert a.steps[0].line == _marker_line(path, "@case0-step0")
    assert a.control is not None
    assert a.control.line == _marker_line(path, "@case0-control")
    assert a.control.steps[0].line == _marker_line(path, "@case0-control-step0")
    assert b.line == _marker_line(path, "@case1")
    assert all(s.timeout == spec.DEFAULT_TIMEOUT for s in (*a.steps, *b.steps))
    assert [s.line for s in b.steps] == [_marker_line(path, "@case1-step0"), _marker_line(path, "@case1-step1")]


@pytest.mark.parametrize(
    "path", sorted((REPO / "scenarios").rglob("*.toml")), ids=lambda p: str(p.relative_to(REPO / "scenarios"))
)
def test_every_shipped_scenario_is_valid(path: Path) -> None:
    sc = spec.load(path, root=REPO)
    assert sc.cases
    for case in sc.cases:
        assert case.line is not None
        # The control rule holds for every shipped case.
        assert case.control or any(s.control for s in case.steps) or case.no_control_reason


@pytest.mark.parametrize("path", sorted((REPO / "labs" / "seccomp").glob("*.json")), ids=lambda p: p.name)
def test_shipped_seccomp_profiles_are_valid(path: Path) -> None:
    assert spec.seccomp_text_problems(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[]", "must be a JSON object"),
        ('{"defaultAction": "ALLOW"}', "'defaultAction' must be an SCMP_ACT_* string"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}', "'syscalls' must be a list"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["mount"]}', "syscalls[0] must be an object"),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}',
            "syscalls[0] needs 'names'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "deny"}]}',
            "syscalls[0].action must be an SCMP_ACT_* string",
        ),
        ('{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [,]}', "at line 2 column 15"),
    ],
)
def test_seccomp_profile_problems_name_the_profile(text: str, fragment: str) -> None:
    (problem,) = spec.seccomp_text_problems(text, "p.json")
    assert "p.json" in problem
    assert fragment in problem


def test_a_legacy_single_name_seccomp_rule_is_accepted() -> None:
    text = '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "action": "SCMP_ACT_ALLOW"}]}'
    assert spec.seccomp_text_problems(text, "p.json") == []


def test_substitute_keeps_types_for_whole_placeholders_and_fills_text() -> None:
    mapping = {"caps": ["NET_RAW"], "n": 3}
    assert spec.substitute("${caps}", mapping) == ["NET_RAW"]
    assert spec.substitute({"a": ["x${n}y", "${n}"]}, mapping) == {"a": ["x3y", 3]}
    assert spec.substitute("keep ${other}", mapping, keep_unknown=True) == "keep ${other}"
    with pytest.raises(KeyError, match="other"):
        spec.substitute("${other}", mapping)
    # The mapped value is copied, so a case cannot change another case's parameter.
    got = spec.substitute("${caps}", mapping)
    got.append("X")
    assert mapping["caps"] == ["NET_RAW"]


def test_placeholders_are_found_anywhere() -> None:
    value = {"a": ["${x}", {"b": "pre-${y}-${x}"}], "c": 3, "d": []}
    assert spec.placeholders(value) == {"x", "y"}
    assert spec.placeholders("$x ${1bad} ${ok_1}") == {"ok_1"}


def test_implied_requirements() -> None:
    assert spec.implied_requirements({"security_opt": ["seccomp=unconfined", "apparmor=unconfined"]}) == ()
    assert spec.implied_requirements(
        {"privileged": True, "security_opt": ["apparmor=lab", "label=type:x", "seccomp=p.json"], "pids_limit": 5}
    ) == ("privileged", "apparmor", "selinux", "seccomp", "cgroup-pids")


# -- Every problem, and only real problems ------------------------------------------------------------------

CONTROL_STEP = """
[[case]]
id = "c"

[[case.step]]
exec = ["true"]
control = true
exit_code = 0
"""


def _problems(load_scenario, body: str) -> list[str]:
    with pytest.raises(spec.ScenarioError) as caught:
        load_scenario(body)
    return [f"{p.key}: {p.message}" for p in caught.value.problems]


def test_problems_of_different_cases_and_inputs_are_all_reported(load_scenario) -> None:
    body = """
    [inputs.x]
    kind = "file"
    default = "missing.txt"

    [[case]]
    id = "one two"
    no_control_reason = "n/a"
    step = [{ exec = ["true"], exit_code = 0 }, { exec = ["true"], errno_not = ["ENOPE"] }]

    [[case]]
    id = "ok"
    requires = ["apparmr"]
    no_control_reason = "n/a"
    step = [{ exec = ["true"], exit_code = 0 }]
    """
    problems = _problems(load_scenario, body)
    assert len(problems) == 4, problems
    assert problems[0].startswith("inputs.x.default: file not found: missing.txt")
    assert any(p.startswith("case[0].id: 'one two' is not a valid id") for p in problems)
    assert "case[0].step[1].errno_not: unknown errno name 'ENOPE'" in problems
    assert "case[1].requires: unknown host feature 'apparmr'; did you mean 'apparmor'?" in problems


def test_a_mistyped_sole_expectation_is_one_problem(load_scenario) -> None:
    problems = _problems(load_scenario, CONTROL_STEP + '\n[[case.step]]\nexec = ["false"]\nexit_code = true\n')
    assert problems == ["case[0].step[1].exit_code: expected an integer or a non-empty list of integers, got True"]


def test_an_invalid_control_step_is_one_problem(load_scenario) -> None:
    body = """
    [[case]]
    id = "c"

    [[case.step]]
    exec = ["id"]
    control = true
    exit_code = 0
    stdout_matches = ["uid=(0"]
    """
    problems = _problems(load_scenario, body)
    assert len(problems) == 1, problems
    assert problems[0].startswith("case[0].step[0].stdout_matches: invalid regular expression")


def test_every_problem_of_one_step_is_reported(load_scenario) -> None:
    body = CONTROL_STEP + '\n[[case.step]]\nexec = ["id"]\nshell = "id"\nexit_code = [true]\ntimeout = 0\n'
    problems = _problems(load_scenario, body)
    assert len(problems) == 3, problems
    assert any(p.startswith("case[0].step[1]: a step needs exactly one of") for p in problems)
    assert any(p.startswith("case[0].step[1].exit_code: expected an integer") for p in problems)
    assert "case[0].step[1].timeout: must be between 0 and 600 seconds, got 0" in problems


# -- Host steps (runner = "host") -------------------------------------------------------------------------

HOST_CASE = """
[[case]]
id = "h"
runner = "host"
uses = ["trust-lab"]
no_control_reason = "unit test"
{steps}
"""


def _host(load_scenario, *steps: str) -> list[str]:
    return _problems(load_scenario, HOST_CASE.format(steps="\n".join(f"[[case.step]]\n{s}" for s in steps)))


def test_host_steps_show_what_the_file_wrote(load_scenario) -> None:
    body = HOST_CASE.format(
        steps="""
[[case.step]]
cli = ["docker", "pull", "${signed_ref}"]
client = "fresh"
exit_code = 0
[[case.step]]
push = { signed = false, ref = "${registry}/x:v1" }
control = true
exit_code = 0
[[case.step]]
notary = "stop"
timeout = 90
exit_code = 0
[[case.step]]
name = "gate"
scan = { target = "lab:tools", feed = "feed", threshold = 3 }
exit_code = 1
"""
    )
    cli, push, notary, scan = load_scenario(body).cases[0].steps
    assert [s.kind for s in (cli, push, notary, scan)] == ["cli", "push", "notary", "scan"]
    assert [s.name for s in (cli, push, notary, scan)] == ["cli", "push", "notary", "gate"]
    assert cli.display == "docker pull ${signed_ref}"
    # The table as written, in the file's key order.
    assert push.display == "push {'signed': False, 'ref': '${registry}/x:v1'}"
    assert notary.display == "notary stop"
    assert scan.display == "scan {'target': 'lab:tools', 'feed': 'feed', 'threshold': 3}"
    assert push.control and not cli.control
    assert cli.argv == () and cli.user is None and cli.skip_when is None
    assert (cli.timeout, notary.timeout) == (60.0, 90.0)  # a host step waits at least a minute


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("exit_code = 0", "case[0].step[0]: a host step needs exactly one of cli, push, notary, scan; got none"),
        (
            'cli = ["docker"]\nnotary = "stop"\nexit_code = 0',
            "case[0].step[0]: a host step needs exactly one of cli, push, notary, scan; got ['cli', 'notary']",
        ),
        (
            'cli = ["podman", "pull"]\nexit_code = 0',
            "case[0].step[0].cli: expected a docker CLI argv starting with 'docker', got ['podman', 'pull']",
        ),
        (
            'cli = "docker pull x"\nexit_code = 0',
            "case[0].step[0].cli: expected a docker CLI argv starting with 'docker', got 'docker pull x'",
        ),
        (
            "push = { ref = 1 }\nexit_code = 0",
            "case[0].step[0].push: expected { ref = '...', variant = '...', signed = true|false }",
        ),
        (
            'push = { ref = "r", sign = true }\nexit_code = 0',
            "case[0].step[0].push: expected { ref = '...', variant = '...', signed = true|false }",
        ),
        (
            'push = { ref = "r", signed = "no" }\nexit_code = 0',
            "case[0].step[0].push: expected { ref = '...', variant = '...', signed = true|false }",
        ),
        ('notary = "start"\nexit_code = 0', "case[0].step[0].notary: the only notary action is 'stop'"),
        (
            'scan = { target = "t", feed = "f", threshold = "15" }\nexit_code = 0',
            "case[0].step[0].scan: expected { target = IMAGE, feed = PATH, severity = 'High', threshold = 15 }",
        ),
        (
            'scan = { target = "lab:tools" }\nexit_code = 0',
            "case[0].step[0].scan: expected { target = IMAGE, feed = PATH, severity = 'High', threshold = 15 }",
        ),
        (
            'cli = ["docker", "ps"]\ncontent_trust = "yes"\nexit_code = 0',
            "case[0].step[0].content_trust: expected true/false, got 'yes'",
        ),
        (
            'cli = ["docker", "ps"]\nclient = 2\nexit_code = 0',
            "case[0].step[0].client: expected a client name ('default', 'fresh' or any name), got 2",
        ),
        (
            'cli = ["docker", "ps"]\nuser = "root"\nexit_code = 0',
            "case[0].step[0].user: unknown key (allowed: cap_amb, cap_bnd, cap_eff, cap_inh, cap_prm, cli, client, "
            "content_trust, control, errno, errno_not, exit_code, name, notary, oom_killed, output_contains, "
            "proc_status, push, scan, stderr_contains, stderr_equals, stderr_matches, stderr_not_contains, "
            "stdout_contains, stdout_equals, stdout_matches, stdout_not_contains, timeout)",
        ),
        (
            'cli = ["docker", "ps"]',
            "case[0].step[0]: the step asserts nothing: add one of exit_code, stdout_contains, "
            "stdout_not_contains, stdout_matches, stdout_equals, stderr_contains, stderr_not_contains, "
            "stderr_matches, stderr_equals, output_contains, proc_status, cap_eff, cap_prm, cap_bnd, cap_inh, "
            "cap_amb, errno, errno_not, oom_killed",
        ),
        (
            'cli = ["docker", "ps"]\noom_killed = true',
            "case[0].step[0].oom_killed: oom_killed applies to a wait step (the container's main process)",
        ),
    ],
)
def test_a_malformed_host_step_is_one_problem(load_scenario, step: str, problem: str) -> None:
    (got,) = _host(load_scenario, step)
    assert got == problem


def test_a_host_case_starts_no_container(load_scenario) -> None:
    body = HOST_CASE.format(steps='image = "lab:tools"\n[[case.step]]\nnotary = "stop"\nexit_code = 0')
    assert _problems(load_scenario, body) == [
        "case[0].image: a runner = 'host' case starts no container; its controls are control = true steps"
    ]


def test_severity_comes_from_the_case_its_defaults_or_its_scenario(write_scenario) -> None:
    body = """
    severity = "minor"

    [defaults]
    severity = "critical"

    [[case]]
    id = "inherits"
    no_control_reason = "a unit test"

    [[case.step]]
    exec = ["true"]
    exit_code = 0

    [[case]]
    id = "own"
    severity = "trivial"
    no_control_reason = "a unit test"

    [[case.step]]
    exec = ["true"]
    exit_code = 0
    """
    loaded = spec.load(write_scenario(body))
    assert loaded.severity == "minor"
    assert {c.id: c.severity for c in loaded.cases} == {"inherits": "critical", "own": "trivial"}
    plain = spec.load(write_scenario("""
    [[case]]
    id = "plain"
    no_control_reason = "a unit test"

    [[case.step]]
    exec = ["true"]
    exit_code = 0
    """))
    assert plain.severity == "normal" and [c.severity for c in plain.cases] == ["normal"]
