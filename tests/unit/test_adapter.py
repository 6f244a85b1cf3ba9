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
    assert "HARNESS ERROR (not a security finding): unexpected AttributeError while running this case" in (
        result.stdout.str()
    )
    assert "Traceback" not in result.stdout.str()


def test_an_unexpected_setup_error_is_that_cases_harness_error(pytester: pytest.Pytester) -> None:
    import json

    pytester.makefile(".toml", **{"scenarios/adapter": SCENARIO})
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef hardlab_case_run():\n    raise ValueError('boom')\n")
    pytester.makeini("[pytest]\nhardlab_dirs = scenarios\n")
    result = pytester.runpytest_subprocess("scenarios", "--hardlab-report=summary.json")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    assert "HARNESS ERROR (not a security finding): unexpected ValueError while running this case: boom" in out
    record = json.loads((pytester.path / "summary.json").read_text())["results"][0]
    assert record["outcome"] == "error" and record["classification"] == "harness-error"
