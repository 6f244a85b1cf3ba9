"""AppArmor profile handling the TOML cases stand on: exercise 11.05's load-and-list, parse errors, and an
engine that accepts `apparmor=<profile>` on a kernel without AppArmor (silently unconfined).

Every "refused" check has a control: a good profile compiles and loads, aa-status lists what is loaded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hardlab.engine import labels
from hardlab.system import apparmor as vm_apparmor

pytestmark = [pytest.mark.apparmor]

PROFILES = Path(__file__).resolve().parents[2] / "labs" / "apparmor"
GOOD = ("usr.bin.nmap", "docker-nginx")
BROKEN = PROFILES / "broken-profile"


def _need_parser() -> None:
    reason = vm_apparmor.parser_missing_reason()
    if reason:
        pytest.skip(f"host lacks 'apparmor_parser': {reason}")


def _need_kernel() -> None:
    reason = vm_apparmor.kernel_reason() or vm_apparmor.parser_missing_reason()
    if reason:
        pytest.skip(f"host lacks 'apparmor' (the kernel LSM): {reason}; run: hardlab vm run -m apparmor")


@pytest.mark.parametrize("name", GOOD)
def test_lab_profile_compiles(name: str) -> None:
    """Control for the parse-error test: the lab profiles compile (no kernel needed)."""
    _need_parser()
    vm_apparmor.run_compile(PROFILES / name)


def test_broken_profile_is_reported_with_file_and_parser_message() -> None:
    _need_parser()
    with pytest.raises(vm_apparmor.ProfileError) as caught:
        vm_apparmor.run_compile(BROKEN)
    message = str(caught.value)
    assert str(BROKEN) in message, message
    assert "syntax error" in message and "line 9" in message, message
    assert "Cache read/write disabled" not in message, "parser noise must not hide the reason"


def test_nmap_profile_loads_and_aa_status_lists_it() -> None:
    """Exercise 11.05 steps 18-19: apparmor_parser -r -W, then aa-status lists /usr/bin/nmap."""
    _need_kernel()
    assert vm_apparmor.run_load(PROFILES / "usr.bin.nmap") == ["/usr/bin/nmap"]
    status = subprocess.run(["aa-status"], capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    # Control: aa-status lists the engine's own profile too, so an empty listing cannot pass.
    assert "docker-default" in status.stdout, status.stdout
    assert "/usr/bin/nmap" in status.stdout, status.stdout
    assert vm_apparmor.loaded().get("/usr/bin/nmap") == "enforce"


def test_broken_profile_is_not_loaded() -> None:
    _need_kernel()
    with pytest.raises(vm_apparmor.ProfileError) as caught:
        vm_apparmor.run_load(BROKEN)
    assert str(BROKEN) in str(caught.value) and "syntax error" in str(caught.value)
    assert "hardlab-broken" not in vm_apparmor.loaded()


def test_engine_without_apparmor_is_never_reported_as_enforcing(hardlab_client, hardlab_host, hardlab_run_id) -> None:
    """On a kernel without AppArmor the engine accepts --security-opt apparmor=docker-nginx and runs the
    container unconfined. hardlab must see that (SecurityOptions, /proc/1/attr/current) and skip, not pass."""
    if vm_apparmor.kernel_reason() is None:
        pytest.skip("this host enforces AppArmor: the unenforced path cannot be observed here")
    container = hardlab_client.containers.create(
        _image(hardlab_client), ["sh", "-c", "cat /proc/1/attr/current 2>&1; echo; sleep 30"],
        security_opt=["apparmor=docker-nginx"], mem_limit="64m", pids_limit=64,
        labels=labels.for_run(hardlab_run_id, labels.owner(), "apparmor-unenforced"),
    )  # fmt: skip
    try:
        container.start()  # the engine takes the option without complaint...
        container.reload()
        assert container.attrs["HostConfig"]["SecurityOpt"] == ["apparmor=docker-nginx"]
        logs = _logs_when(container, lambda text: text.strip() != "")
        # ...but nothing confines the container: no profile name in its attr, and the engine says no apparmor.
        assert "docker-nginx" not in logs, logs
        names = " ".join(hardlab_host.engine.get("security_options") or [])
        assert "apparmor" not in names, names
        assert hardlab_host.missing(["apparmor"]), "the probe must report apparmor as missing"
        assert "apparmor" in hardlab_host.missing(["apparmor"])[0]
    finally:
        container.remove(force=True)


def _image(client) -> str:
    from hardlab.engine import images
    return images.ensure(client, "lab:busybox")


def _logs_when(container, ready, seconds: float = 20) -> str:
    import time

    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = container.logs().decode(errors="replace")
        if ready(text):
            return text
        time.sleep(0.2)
    return text
