"""`hardlab run [PYTEST ARGS...]`: the scenarios through pytest, with every report written."""

from __future__ import annotations

from pathlib import Path

REPORTS = Path("reports")


def main(argv: list[str]) -> int:
    """Build the lab images once (visible progress), then run pytest over the scenarios with reports.

    Every argument passes through to pytest: `hardlab run -k seccomp -n 2`."""
    import pytest

    from hardlab.cli.images import ready

    if not ready("hardlab run"):
        return 2
    REPORTS.mkdir(exist_ok=True)
    has_paths = any(not a.startswith("-") and Path(a.split("::")[0]).exists() for a in argv)
    args = [
        *([] if has_paths else ["scenarios"]),
        f"--junitxml={REPORTS / 'junit.xml'}",
        f"--alluredir={REPORTS / 'allure-results'}",
        "--clean-alluredir",
        f"--hardlab-report={REPORTS / 'summary.json'}",
        "--hardlab-any-folder",  # `hardlab run ~/mine/`: its scenario files, whatever the folders are called
        # This command imported hardlab before pytest could mark its plugin for assertion rewriting; the
        # plugin asserts nothing, so the warning would only be noise.
        "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
        *argv,
    ]
    code = int(pytest.main(args))
    if code == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        named = [a for a in argv if not a.startswith("-") and Path(a.split("::")[0]).exists()] or ["scenarios"]
        print(f"hardlab run: no scenario files in {', '.join(named)} (a scenario file is a *.toml with "
              "schema_version, [scenario] and [[case]]; `hardlab list PATH` shows what hardlab finds)")  # fmt: skip
    return code
