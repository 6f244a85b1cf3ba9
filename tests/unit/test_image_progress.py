"""A lab image build says what it is doing: its phases with elapsed seconds, a heartbeat with the recipe's
latest log line, and who holds the build lock when this process has to wait for it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hardlab.engine import images
from hardlab.system.locks import holder_text

RECIPE = """\
#!/usr/bin/env bash
set -eu
echo "I: Retrieving demo 1.0" > "$1.debootstrap.log"
sleep 1
echo "I: Unpacking demo 1.0" >> "$1.debootstrap.log"
mkdir -p "$1/etc" && echo demo > "$1/etc/hostname"
"""


@pytest.fixture
def recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "recipes" / "demo").mkdir(parents=True)
    (tmp_path / "recipes" / "demo" / "recipe.sh").write_text(RECIPE)
    monkeypatch.setattr(images, "RECIPES", tmp_path / "recipes")
    monkeypatch.setattr(images, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(images, "HEARTBEAT_S", 0.4)
    return tmp_path


@pytest.mark.skipif(os.geteuid() != 0, reason="host lacks root: a lab image recipe builds a root-owned rootfs")
def test_a_build_says_each_phase_with_its_seconds_and_a_heartbeat(recipes: Path) -> None:
    log = io.StringIO()
    tarball = images.build_tarball("demo", log)
    assert tarball.is_file()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("hardlab: building lab:demo from Debian packages")
    assert lines[1] == "hardlab: lab:demo: recipe recipe.sh filling the rootfs…"
    beats = [ln for ln in lines if "still running after" in ln]
    assert beats and "(I: Retrieving demo 1.0)" in beats[0]
    assert any(ln.startswith("hardlab: lab:demo: recipe recipe.sh filling the rootfs done in 1.") for ln in lines)
    assert lines[-2] == "hardlab: lab:demo: packing the rootfs into the cache…"
    assert lines[-1].startswith("hardlab: lab:demo: packing the rootfs into the cache done in ") and "MB)" in lines[-1]
    log = io.StringIO()
    assert images.build_tarball("demo", log) == tarball and log.getvalue() == ""  # cached: nothing to say


def test_waiting_on_the_build_lock_names_the_holder(recipes: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from hardlab.engine import images
        images.CACHE = Path({str(recipes / "cache")!r})
        with images.lock("lab:tools"):
            print("held", flush=True)
            sys.stdin.readline()
    """)
    child = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "held"
        note = (recipes / "cache" / ".lock").read_text()
        assert holder_text(note) == (child.pid, "build of lab:tools")
        log = io.StringIO()
        got, release = threading.Event(), threading.Event()

        def wait_for_the_lock() -> None:
            with images.lock("lab:busybox", log):
                got.set()
                release.wait(10)

        waiter = threading.Thread(target=wait_for_the_lock)
        waiter.start()
        deadline = time.monotonic() + 10
        while not log.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.getvalue() == f"hardlab: waiting for another hardlab's build of lab:tools (pid {child.pid})…\n"
        assert not got.is_set()  # still waiting: the holder has not let go
        child.stdin.write("go\n")
        child.stdin.flush()
        assert got.wait(10)  # it got the lock once the holder let go, and says it holds it now
        assert holder_text((recipes / "cache" / ".lock").read_text()) == (os.getpid(), "build of lab:busybox")
        release.set()
        waiter.join(10)
    finally:
        child.kill() if child.poll() is None else None
        child.wait()
    assert (recipes / "cache" / ".lock").read_text() == ""  # released: no note naming a process that holds nothing


def test_the_waiting_text() -> None:
    assert images.waiting_text("4242 build of lab:tools") == (
        "waiting for another hardlab's build of lab:tools (pid 4242)…")
    assert images.waiting_text("") == "waiting for another hardlab's image build to finish…"
