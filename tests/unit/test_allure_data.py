"""What hardlab tells allure: statuses, messages that categories.json sorts, CIS links. Pure logic."""

from __future__ import annotations

import re

from hardlab import outcomes
from hardlab.core import allure_data


def category(status: str, message: str) -> str:
    return next((c["name"] for c in allure_data.CATEGORIES if status in c["matchedStatuses"]
                 and re.fullmatch(c["messageRegex"], message)), "")  # fmt: skip


def test_findings_harness_trouble_and_host_limits_land_in_their_own_categories() -> None:
    def sorted_as(classification: str, outcome: str = "") -> str:
        status = outcome or allure_data.status(classification)
        return category(status, allure_data.message(classification, "FAILED: x\nmore lines"))

    assert sorted_as(outcomes.CONTROL_FAILED).startswith("Findings")
    assert sorted_as(outcomes.NOT_STARTED).startswith("Findings")
    assert sorted_as(outcomes.HARNESS_ERROR).startswith("Harness trouble")
    assert sorted_as(outcomes.BROKEN_CONTROL).startswith("Broken control")
    assert sorted_as(outcomes.HOST_FEATURE_MISSING, "skipped").startswith("Host limits")
    assert allure_data.status(outcomes.HARNESS_ERROR) == "broken"
    assert sorted_as(outcomes.HOST_FEATURE_MISSING).startswith("Strict mode")  # --hardlab-strict: failed, exit 1
    assert allure_data.message(outcomes.CONTROL_FAILED, "\nFAILED: x\ny") == "[control-failed] FAILED: x"


def test_category_patterns_are_plain_enough_for_allure_3() -> None:
    """allure 3 reads the patterns as JavaScript regexes; an escaped `-` is an error there in unicode mode."""
    for c in allure_data.CATEGORIES:
        assert "\\-" not in c["messageRegex"]


def test_cis_ids_become_distinct_links() -> None:
    links = allure_data.cis_links([{"id": "5.28", "url": "https://x/b"}, {"id": "5.10", "url": "https://x/b"}])
    assert [lk["name"] for lk in links] == ["CIS 5.28", "CIS 5.10"] and len({lk["url"] for lk in links}) == 2
    assert allure_data.ms(1.2345) == 1234 or allure_data.ms(1.2345) == 1235
