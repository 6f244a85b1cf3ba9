"""One outcome vocabulary for every mode (run, audit, grade, scan) and one exit-code table.

An *outcome* is what happened to a check; a *classification* says why a non-pass happened, so a
finding is never confused with environment trouble.
"""

from __future__ import annotations

from enum import IntEnum

# Outcomes, as pytest and JUnit name them.
PASSED = "passed"
FAILED = "failed"  # a security check did not hold: a finding
ERROR = "error"  # the harness could not judge: not a finding
SKIPPED = "skipped"  # the host lacks a feature, with a reason naming it
NOT_APPLICABLE = "not-applicable"  # nothing to check here (e.g. no TLS files configured)
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED, NOT_APPLICABLE)

# Classifications of a non-pass.
OK = "ok"
CONTROL_FAILED = "control-failed"  # the security control did not hold: a finding
REQUIRED_FEATURE_MISSING = "required-feature-missing"  # finding: the host profile says it must have it
BROKEN_CONTROL = "broken-control"  # the permissive twin failed: the check proves nothing
NOT_STARTED = "container-did-not-start"
HOST_FEATURE_MISSING = "host-feature-missing"  # the host lacks it and need not have it
WAIVED = "waived"  # a host profile accepts this, with a reason
HARNESS_ERROR = "harness-error"  # engine down, image missing, bad input: not a finding
ENVIRONMENT = HARNESS_ERROR

FINDINGS = frozenset({CONTROL_FAILED, REQUIRED_FEATURE_MISSING, NOT_STARTED})
HARNESS = frozenset({HARNESS_ERROR, BROKEN_CONTROL})


class Exit(IntEnum):
    """Exit codes of every hardlab command."""

    OK = 0  # every check held (skips with reasons are fine)
    FINDINGS = 1  # a security check failed, or a scan gate failed
    HARNESS = 2  # harness or usage error: engine down, bad input, bad arguments; the run is incomplete
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (the shell's convention): nothing is left running


# What each command's exit code means, for `--help` epilogs and the README (one table for every command).
EXIT_TABLE = (
    (Exit.OK, "every check held (skips with a reason are fine); grade: every submission was graded"),
    (Exit.FINDINGS, "findings: a security check failed (run, audit), a scan gate failed (scan)"),
    (Exit.HARNESS, "harness or usage error: engine down, bad input or arguments, a check could not be judged"),
    (Exit.INTERRUPTED, "interrupted (Ctrl-C, SIGTERM): containers and VMs were cleaned up"),
)
EXIT_EPILOG = "exit codes:\n" + "\n".join(f"  {int(code):<4} {what}" for code, what in EXIT_TABLE)

# pytest's own exit codes (pytest.ExitCode), named here so the pure layer need not import pytest.
PYTEST_OK, PYTEST_FAILED, PYTEST_INTERRUPTED = 0, 1, 2


def run_exit(pytest_code: int, results: list[dict[str, object]]) -> Exit:
    """A pytest run's exit code in hardlab's table, from its summary records.

    pytest says 1 for a finding and for a harness error alike, and 2 ("interrupted") when the engine is
    down at collection; hardlab tells them apart by each record's outcome and classification. A run that
    could not judge everything is incomplete (2) even when it also has findings: the findings are still
    in the reports."""
    if pytest_code == PYTEST_INTERRUPTED and not results:
        return Exit.HARNESS
    if pytest_code not in (PYTEST_OK, PYTEST_FAILED):
        return Exit.HARNESS  # interrupted, internal error, usage error, no tests collected
    if any(r.get("outcome") == ERROR or r.get("classification") in HARNESS for r in results):
        return Exit.HARNESS
    if pytest_code == PYTEST_FAILED or any(r.get("outcome") == FAILED for r in results):
        return Exit.FINDINGS
    return Exit.OK
