"""Written by `hardlab learn --lsm apparmor`: load the learned AppArmor profiles of this folder
(`apparmor_parser -r -W` of every *.apparmor file) before its scenarios run. Only where the kernel enforces
AppArmor; elsewhere the scenarios skip through `requires = ["apparmor"]`, naming the missing LSM."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.system import apparmor


@pytest.fixture(scope="session", autouse=True)
def hardlab_learned_apparmor_profiles() -> dict[str, list[str]]:
    if apparmor.kernel_reason() or apparmor.parser_missing_reason():
        return {}
    try:
        return {p.name: apparmor.run_load(p) for p in sorted(Path(__file__).parent.glob("*.apparmor"))}
    except apparmor.ProfileError as exc:
        pytest.fail(f"harness error: {exc}", pytrace=False)
