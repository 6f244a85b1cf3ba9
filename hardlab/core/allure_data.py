"""What hardlab tells allure, as plain data: statuses, the classification tag of a message, categories, links.

Pure: the pytest adapter (run, grade) and the audit's hand-written results both use it, so a finding, harness
trouble and a host limit land in the same allure category whichever mode wrote them.
"""

from __future__ import annotations

from typing import Any

from hardlab.outcomes import (
    BROKEN_CONTROL,
    CONTROL_FAILED,
    HARNESS,
    HARNESS_ERROR,
    HOST_FEATURE_MISSING,
    NOT_STARTED,
    REQUIRED_FEATURE_MISSING,
    WAIVED,
)

PASSED, FAILED, BROKEN, SKIPPED = "passed", "failed", "broken", "skipped"  # allure's statuses


def _any(*names: str) -> str:
    return r"^\[(" + "|".join(names) + r")\].*"  # plain names: a JS regex (allure 3) rejects `\-`


# allure's categories.json: the first category whose statuses and message pattern match takes a result, and
# every message hardlab writes starts with `[classification]` (see `message`).
CATEGORIES: list[dict[str, Any]] = [
    {"name": "Findings: a security control did not hold", "matchedStatuses": [FAILED],
     "messageRegex": _any(CONTROL_FAILED, REQUIRED_FEATURE_MISSING, NOT_STARTED)},
    {"name": "Strict mode: a host limit or waiver counted as a failure", "matchedStatuses": [FAILED],
     "messageRegex": _any(HOST_FEATURE_MISSING, WAIVED)},
    {"name": "Broken control: the check proved nothing (not a finding)", "matchedStatuses": [BROKEN, FAILED],
     "messageRegex": _any(BROKEN_CONTROL)},
    {"name": "Harness trouble: engine, image or input (not a finding)", "matchedStatuses": [BROKEN],
     "messageRegex": _any(HARNESS_ERROR)},
    {"name": "Host limits: the host lacks a feature (a reasoned skip, not a pass)", "matchedStatuses": [SKIPPED],
     "messageRegex": _any(HOST_FEATURE_MISSING)},
]  # fmt: skip


def status(classification: str) -> str:
    """A non-pass's allure status, as the exit code reads it (outcomes.run_exit): harness trouble and a broken
    control are broken (the check could not be judged); a finding, or a strict run's host limit, failed."""
    return BROKEN if classification in HARNESS else FAILED


def message(classification: str, text: str) -> str:
    """A status message allure's categories can sort: `[classification] first line of the text`."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return f"[{classification}] {first}".rstrip()


def cis_links(cis: list[dict[str, str]]) -> list[dict[str, str]]:
    """One allure link per CIS id. CIS publishes no per-control URL, so each opens the benchmark's page;
    the fragment names the control and keeps the links apart (a report lists links by URL)."""
    return [{"type": "link", "name": f"CIS {c['id']}", "url": f"{c['url']}#{c['id']}"} for c in cis]


def ms(seconds: float) -> int:
    """allure's timestamps: integer milliseconds since the epoch."""
    return round(seconds * 1000)
