"""Judge what a step observed against its expectations. Pure: no pytest, no docker."""

from __future__ import annotations

import re

import regex  # type: ignore[import-untyped]  # no stubs pinned

from hardlab.core.inputs import InputError
from hardlab.core.results import Check, Observed, StepResult
from hardlab.spec import Expectation, Step
from hardlab.spec import caps as capsmod

EXCERPT = 400


REGEX_TIMEOUT = 2.0  # seconds one pattern may take on one step's output (a backtracking blow-up is cut off)


def matches(pattern: str, text: str, where: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (multi-line), evaluated with a time bound: the `regex`
    engine gives up after REGEX_TIMEOUT (it releases the GIL, so no other case waits on it), and a pattern
    that needs longer is the scenario's bad input, said as a sentence."""
    try:
        return regex.search(pattern, text, regex.MULTILINE, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        raise InputError(
            f"{where}: the pattern /{pattern}/ took over {REGEX_TIMEOUT:.0f} s on {len(text)} characters of "
            "output (catastrophic backtracking, e.g. a nested quantifier like (a+)+): rewrite it"
        ) from None


def excerpt(text: str, limit: int = EXCERPT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit // 2] + " … " + text[-limit // 2 :]


def parse_status(text: str) -> dict[str, str]:
    """/proc/<pid>/status as field -> value, exactly as the kernel writes the value (whitespace folded)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and re.match(r"^[A-Za-z_]+$", name):
            fields.setdefault(name, " ".join(value.split()))
    return fields


def no_errno(out: str, err: str) -> str:
    """What a step printed instead of an errno: its stdout and, when it said something, its stderr (the
    prober explains there why it made no call)."""
    said = f"; stderr: {excerpt(err)}" if err.strip() else ""
    return f"(no errno in output: {excerpt(out) or '(empty)'}{said})"


def parse_errno(text: str) -> str | None:
    found = re.search(r"\berrno=([A-Z0-9]+)", text)
    return found.group(1) if found else None


def evaluate(step: Step, seen: Observed) -> StepResult:
    """Every expectation of `step`, each as a Check; a timed-out step fails them all."""
    exp: Expectation = step.expect
    result = StepResult(step, seen)
    add = result.checks.append
    if seen.timed_out:
        add(
            Check(
                "finished in time",
                False,
                f"within {step.timeout:g}s",
                f"still running after {seen.duration:.1f}s; killed",
            )
        )
        return result
    if step.skip_when and step.skip_when.stdout_contains in seen.stdout:
        result.skip_reason = step.skip_when.reason
        return result
    out, err = seen.stdout, seen.stderr
    if exp.exit_code is not None:
        want = " or ".join(str(c) for c in exp.exit_code)
        add(Check("exit code", seen.exit_code in exp.exit_code, want, str(seen.exit_code)))
    for stream, text in (("stdout", out), ("stderr", err), ("output", out + err)):
        for needle in getattr(exp, f"{stream}_contains"):
            add(Check(f"{stream} contains", needle in text, repr(needle), excerpt(text) or "(empty)"))
        for needle in getattr(exp, f"{stream}_not_contains", ()):
            add(Check(f"{stream} does not contain", needle not in text, f"no {needle!r}", excerpt(text) or "(empty)"))
        equals = getattr(exp, f"{stream}_equals", None)
        if equals is not None:
            # Exact, except the trailing newline(s) a command prints and a multi-line TOML string ends with.
            ok = text.rstrip("\r\n") == equals.rstrip("\r\n")
            add(Check(f"{stream} equals", ok, repr(equals.rstrip("\r\n")), repr(excerpt(text, EXCERPT * 4))))
        for pattern in getattr(exp, f"{stream}_matches", ()):
            ok = matches(pattern, text, f"step {step.name!r} (line {step.line}): {stream}_matches")
            add(Check(f"{stream} matches", ok, f"/{pattern}/", excerpt(text) or "(empty)"))
    status = parse_status(out) if exp.proc_status or exp.caps else {}
    for name, value in exp.proc_status:
        got = status.get(name)
        add(Check(f"/proc status {name}", got == value, value, got if got is not None else "(field absent)"))
    for fname, spec in exp.caps:
        add(_cap_check(fname, spec, status))
    code = parse_errno(out) if exp.errno or exp.errno_not else None
    if exp.errno:
        add(Check("errno", code in exp.errno, " or ".join(exp.errno), code or no_errno(out, err)))
    if exp.errno_not:
        ok = code is not None and code not in exp.errno_not
        add(Check("errno", ok, "not " + " or ".join(exp.errno_not), code or no_errno(out, err)))
    if exp.oom_killed is not None:
        add(Check("OOM killed", seen.oom_killed == exp.oom_killed, str(exp.oom_killed).lower(),
                  str(seen.oom_killed).lower()))  # fmt: skip
    return result


def output_lost(result: StepResult) -> bool:
    """A failed step that exited but printed nothing while its checks read its output. Under load the
    engine can drop a short-lived exec's output (moby#27289); such a step deserves one more run."""
    seen, exp = result.observed, result.step.expect
    reads_output = any((exp.stdout_contains, exp.stderr_contains, exp.output_contains, exp.stdout_matches,
                        exp.stdout_equals is not None, exp.stderr_equals is not None,
                        exp.stderr_matches, exp.proc_status, exp.caps, exp.errno, exp.errno_not))  # fmt: skip
    silent = seen.exit_code is not None and not seen.stdout and not seen.stderr and not seen.timed_out
    return not result.ok and silent and reads_output and result.step.kind == "exec"


def _cap_check(field_name: str, spec: tuple[str, ...], status: dict[str, str]) -> Check:
    """Compare a capability mask by names, so a failure shows names, not hex."""
    mask = status.get(field_name)
    if mask is None:
        return Check(f"{field_name} capabilities", False, ", ".join(spec), f"(no {field_name} in /proc status)")
    last = status.get("CapLastCap")
    try:
        want = capsmod.expand(list(spec), int(last) if last and last.isdigit() else None)
    except ValueError as exc:
        return Check(f"{field_name} capabilities", False, ", ".join(spec), str(exc))
    got = capsmod.decode(mask)
    missing, extra = sorted(want - got), sorted(got - want)
    detail = f"{mask} = {_names(got)}"
    if missing or extra:
        detail += "".join(
            [f"; missing {_names(missing)}" if missing else "", f"; unexpected {_names(extra)}" if extra else ""]
        )
    return Check(
        f"{field_name} capabilities", not missing and not extra, f"{capsmod.encode(want)} = {_names(want)}", detail
    )


def _names(names: frozenset[str] | list[str] | set[str]) -> str:
    return "{" + ", ".join(sorted(names)) + "}" if names else "{} (none)"


def judge_start_error(expected: tuple[str, ...], message: str) -> StepResult:
    """A case's `start_error`: the container must fail to start with a message containing each string."""
    step = Step("container fails to start", "start", (), None, 0.0, False, Expectation(), None, None)
    res = StepResult(step, Observed(None, "", message))
    for needle in expected:
        if not needle:  # expect_start = "fails" without start_error: any refused start holds
            res.checks.append(Check("container start", bool(message), "refused by the engine",
                                    message or "(the container started)"))  # fmt: skip
            continue
        res.checks.append(Check("start error contains", bool(message) and needle in message, repr(needle),
                                message or "(the container started)"))  # fmt: skip
    return res
