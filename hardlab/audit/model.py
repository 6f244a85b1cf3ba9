"""Audit results: one record per check per host, how a profile turns an outcome into a verdict, and the
exit code. Pure: no pytest, no docker.

Every non-pass carries a classification, so a finding (the control did not hold) never hides among
environment trouble (engine timeout, missing host feature) and vice versa.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from hardlab.audit.profile import PROFILE_FEATURES, HostProfile

# statuses
PASSED, FAILED, SKIPPED, ERROR, NOT_APPLICABLE = "passed", "failed", "skipped", "error", "not-applicable"
# classifications of non-passes
CONTROL_FAILED = "control-failed"  # finding: the control did not hold
REQUIRED_FEATURE_MISSING = "required-feature-missing"  # finding: the profile says this host must have it
FEATURE_MISSING = "host-feature-missing"  # environment: the host lacks it and need not have it
WAIVED = "waived"  # the profile accepts this, with a reason
ENVIRONMENT = "environment"  # engine timeout, API error, harness problem: not a finding
BROKEN_CONTROL = "broken-control"  # the permissive twin failed: the check proved nothing
NOT_APPLICABLE_CLASS = "not-applicable"  # nothing to check here (e.g. no TLS files configured)

FINDINGS = {CONTROL_FAILED, REQUIRED_FEATURE_MISSING}
FLAKY = {ENVIRONMENT, BROKEN_CONTROL, FEATURE_MISSING}

EXIT_OK, EXIT_FINDING, EXIT_HARNESS = 0, 1, 2


@dataclass(frozen=True)
class Outcome:
    """What a check observed, before the host profile has its say."""

    state: str  # "pass", "fail", "missing" (a host feature is absent), "error", "n/a", "broken-control"
    evidence: tuple[str, ...]
    feature: str = ""  # for "missing": which feature

    @staticmethod
    def ok(*evidence: str) -> Outcome:
        return Outcome("pass", tuple(evidence))

    @staticmethod
    def fail(*evidence: str) -> Outcome:
        return Outcome("fail", tuple(evidence))

    @staticmethod
    def missing(feature: str, *evidence: str) -> Outcome:
        return Outcome("missing", tuple(evidence), feature)

    @staticmethod
    def error(*evidence: str) -> Outcome:
        return Outcome("error", tuple(evidence))

    @staticmethod
    def na(*evidence: str) -> Outcome:
        return Outcome("n/a", tuple(evidence))


@dataclass
class Result:
    host: str
    check: str  # stable id, e.g. "daemon.icc" or "behaviour.seccomp-default/keyctl-blocked"
    cis: str
    title: str
    kind: str  # config | files | auditd | runtime | behaviour
    status: str
    classification: str
    evidence: list[str]
    remediation: str
    duration: float = 0.0
    feature: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.host}::{self.check}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = round(self.duration, 3)
        data["finding"] = self.classification in FINDINGS
        return data


def judge(
    host: str,
    check: str,
    cis: str,
    title: str,
    kind: str,
    remediation: str,
    outcome: Outcome,
    profile: HostProfile,
    strict: bool,
    duration: float = 0.0,
) -> Result:
    """The verdict for one check: the outcome, weighed by the host profile and --strict."""

    def result(status: str, classification: str, evidence: list[str]) -> Result:
        return Result(host, check, cis, title, kind, status, classification, evidence, remediation, duration,
                      outcome.feature)  # fmt: skip

    evidence = list(outcome.evidence)
    state = outcome.state
    if state == "pass":
        return result(PASSED, "", evidence)
    if state == "error":
        return result(ERROR, ENVIRONMENT, evidence)
    if state == "broken-control":
        return result(ERROR, BROKEN_CONTROL, evidence)
    if state == "n/a":
        return result(NOT_APPLICABLE, NOT_APPLICABLE_CLASS, evidence)
    waiver = profile.waiver(check, cis)
    if state == "missing" and outcome.feature in profile.require:
        what = PROFILE_FEATURES.get(outcome.feature, outcome.feature)
        return result(FAILED, REQUIRED_FEATURE_MISSING,
                      [f"host profile {profile.name!r} requires '{outcome.feature}' ({what}) and this host lacks it",
                       *evidence])  # fmt: skip
    if waiver:
        evidence = [f"waived by host profile {profile.name!r}: {waiver}", *evidence]
        if strict:
            return result(FAILED, WAIVED, ["STRICT: a waived check counts as a failure", *evidence])
        return result(SKIPPED, WAIVED, evidence)
    if state == "missing":
        evidence = [f"host lacks '{outcome.feature}' and profile {profile.name!r} does not require it", *evidence]
        if strict:
            return result(FAILED, FEATURE_MISSING, ["STRICT: a skipped check counts as a failure", *evidence])
        return result(SKIPPED, FEATURE_MISSING, evidence)
    if state == "fail":
        return result(FAILED, CONTROL_FAILED, evidence)
    raise ValueError(f"unknown outcome state {state!r}")


def exit_code(results: list[Result], harness_problems: list[str]) -> int:
    """2: the audit could not run completely (a host down, a check errored, bad config) — its findings are
    still reported; 1: a control failed; 0: every check held (or was a reasoned skip / not applicable)."""
    if harness_problems or any(r.status == ERROR for r in results):
        return EXIT_HARNESS
    if any(r.status == FAILED for r in results):
        return EXIT_FINDING
    return EXIT_OK


def totals(results: list[Result]) -> dict[str, int]:
    counts = Counter(r.status for r in results)
    return {s: counts.get(s, 0) for s in (PASSED, FAILED, SKIPPED, ERROR, NOT_APPLICABLE)}


def by_class(results: list[Result]) -> dict[str, int]:
    return dict(Counter(r.classification for r in results if r.classification))
