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
