"""Host steps read from the typed spec model: what each cli/push/notary/scan step asks the trust lab and the
scanner to do. The trust lab is a recording stand-in (pure logic); the scan runs for real on a rootfs folder."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from hardlab import hoststeps, spec

HERE = Path(__file__).resolve().parent
FEED = HERE.parents[1] / "labs" / "advisories"
VALUES = {"registry": "127.0.0.1:5000", "signed_ref": "127.0.0.1:5000/hardlab/app:signed"}


class RecordingLab:
    """Answers like the trust lab's CLI and records what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def _done(self, *call: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(call)
        return subprocess.CompletedProcess([], 0, "ok\n", "")

    def run_step(self, argv: list[str], values: dict[str, str], trust: bool, client: str, timeout: float) -> Any:
        return self._done("run_step", argv, values, trust, client, timeout)

    def make_image(self, ref: str, variant: str) -> str:
        self.calls.append(("make_image", ref, variant))
        return "sha256:0"

    def docker(self, *args: str, trust: bool = True) -> Any:
        return self._done("docker", args, trust)

    def stop_notary(self) -> None:
        self.calls.append(("stop_notary",))


HOST_SCENARIO = """
[[case]]
id = "trust"
runner = "host"
uses = ["trust-lab"]
no_control_reason = "unit test"
  [[case.step]]
  cli = ["docker", "pull", "${signed_ref}"]
  client = "fresh"
  exit_code = 0
  [[case.step]]
  cli = ["docker", "trust", "inspect", "${signed_ref}"]
  content_trust = false
  timeout = 120
  exit_code = 0
  [[case.step]]
  push = { ref = "${registry}/hardlab/demo:v1", variant = "demo" }
  exit_code = 0
  [[case.step]]
  push = { ref = "${registry}/hardlab/demo:v2", signed = false }
  exit_code = 0
  [[case.step]]
  notary = "stop"
  exit_code = 0
"""


def test_trust_steps_are_typed_with_their_defaults(load_scenario) -> None:
    pull, inspect, signed, unsigned, notary = load_scenario(HOST_SCENARIO).cases[0].steps
    assert pull.host == spec.CliStep(("docker", "pull", "${signed_ref}"), content_trust=True, client="fresh")
    assert inspect.host == spec.CliStep(("docker", "trust", "inspect", "${signed_ref}"), False, "default")
    assert signed.host == spec.PushStep("${registry}/hardlab/demo:v1", variant="demo", signed=True)
    assert unsigned.host == spec.PushStep("${registry}/hardlab/demo:v2", variant="default", signed=False)
    assert notary.host == spec.NotaryStep("stop")
    assert unsigned.display == "push {'ref': '${registry}/hardlab/demo:v2', 'signed': False}"


def test_trust_steps_ask_the_lab_for_what_the_file_wrote(load_scenario, tmp_path: Path) -> None:
    case = load_scenario(HOST_SCENARIO).cases[0]
    lab = RecordingLab()
    result = hoststeps.run_host_case(case, tmp_path, None, lab, VALUES)
    assert [s.ok for s in result.main.steps] == [True] * 5
    assert lab.calls == [
        # The CLI step's placeholders are filled by the lab; its subprocess gets 60 s as before.
        ("run_step", ["docker", "pull", "${signed_ref}"], VALUES, True, "fresh", 60.0),
        ("run_step", ["docker", "trust", "inspect", "${signed_ref}"], VALUES, False, "default", 60.0),
        ("make_image", "127.0.0.1:5000/hardlab/demo:v1", "demo"),
        ("docker", ("push", "127.0.0.1:5000/hardlab/demo:v1"), True),
        ("make_image", "127.0.0.1:5000/hardlab/demo:v2", "default"),
        ("docker", ("push", "--disable-content-trust", "127.0.0.1:5000/hardlab/demo:v2"), False),
        ("stop_notary",),
    ]


def test_a_trust_step_without_a_lab_is_refused(load_scenario, tmp_path: Path) -> None:
    case = load_scenario(HOST_SCENARIO).cases[0]
    with pytest.raises(ValueError, match="a cli step needs uses"):
        hoststeps.run_host_case(case, tmp_path, None, None, VALUES)


def test_a_scan_step_gates_a_rootfs_on_the_feed(load_scenario, tmp_path: Path, monkeypatch) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (rootfs / "var/lib/dpkg").mkdir(parents=True)
    (rootfs / "var/lib/dpkg/status").write_text(
        "Package: tar\nStatus: install ok installed\nVersion: 1.34+dfsg-1.2+deb12u1\n"
    )
    body = f"""
[[case]]
id = "scan"
runner = "host"
no_control_reason = "unit test"
  [[case.step]]
  scan = {{ target = "{rootfs}", feed = "{FEED}", threshold = 0 }}
  exit_code = 1
  stdout_contains = ["tar"]
  [[case.step]]
  scan = {{ target = "{rootfs}", feed = "{FEED}", severity = "Critical", threshold = 0, backend = "builtin" }}
  exit_code = 0
"""
    case = load_scenario(body).cases[0]
    assert case.steps[0].host == spec.ScanStep(str(rootfs), str(FEED))  # severity High, threshold 0, builtin
    monkeypatch.chdir(tmp_path)  # the scan writes its JSON report under reports/
    result = hoststeps.run_host_case(case, tmp_path, None, None, {})
    assert [(s.observed.exit_code, s.ok) for s in result.main.steps] == [(1, True), (0, True)], [
        s.observed for s in result.main.steps
    ]
