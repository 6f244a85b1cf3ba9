"""The pytest adapter without an engine: pytester runs a scenario whose setup fixture is overridden."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SCENARIO = """\
schema_version = 1

[scenario]
id = "adapter"
title = "adapter unit scenario"

[[case]]
id = "crash-in-call"
title = "the call phase raises something that is not a finding"
image = "lab:busybox"
no_control_reason = "adapter test"

[[case.step]]
shell = "true"
exit_code = 0
"""

CONFTEST = """\
import pytest

@pytest.fixture
def hardlab_case_run():
    return object()  # not a CaseResult: judging it raises AttributeError in the call phase
"""


def test_an_unexpected_call_phase_error_is_a_failure_not_an_internal_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", **{"scenarios/adapter": SCENARIO})
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nhardlab_dirs = scenarios\n")
    result = pytester.runpytest_subprocess("scenarios")  # the pytest11 entry point loads hardlab
    result.assert_outcomes(failed=1)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "AttributeError" in result.stdout.str()
