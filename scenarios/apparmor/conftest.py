"""AppArmor pack: load the lab profiles into the kernel before any case here uses them.

Only on a host whose kernel enforces AppArmor (the lab VM, an Ubuntu/Debian lab machine); elsewhere the
cases skip through their `requires`, naming the missing LSM, and nothing is loaded. A profile that does
not load is a harness ERROR naming the file and apparmor_parser's message, never a failed check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.system import apparmor as vm_apparmor

PROFILES = Path(__file__).resolve().parents[2] / "labs" / "apparmor"
# What the TOML cases here reference by name: /usr/bin/nmap (exercise 11.05) and docker-nginx.
LOADED_FOR_CASES = ("usr.bin.nmap", "docker-nginx")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "apparmor: needs a kernel that enforces AppArmor (hardlab vm run -m apparmor)")


@pytest.fixture(scope="session", autouse=True)
def hardlab_apparmor_profiles() -> dict[str, list[str]]:
    """file -> profile names loaded (empty where AppArmor is not enforced). Loading is idempotent (-r)."""
    if vm_apparmor.kernel_reason() or vm_apparmor.parser_missing_reason():
        return {}
    try:
        return {name: vm_apparmor.run_load(PROFILES / name) for name in LOADED_FOR_CASES}
    except vm_apparmor.ProfileError as exc:
        pytest.fail(f"harness error: {exc}", pytrace=False)
