"""`hardlab learn --container KEY=VALUE` and `--run-file SCRIPT`: parsed, validated, written into the proof."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from hardlab.errors import BadInput
from hardlab.learn import proof
from hardlab.learn.run import container_options, workload_file


def test_values_are_toml_where_they_are_toml_else_strings() -> None:
    got = container_options(["user=1000:1000", "read_only=true", "pids_limit=64", "cap_drop=ALL",
                             "cap_add=CHOWN", "cap_add=SETUID", 'tmpfs=["/run"]'])  # fmt: skip
    assert got == {"user": "1000:1000", "read_only": True, "pids_limit": 64, "cap_drop": ["ALL"],
                   "cap_add": ["CHOWN", "SETUID"], "tmpfs": {"/run": ""}}  # fmt: skip


@pytest.mark.parametrize(("item", "message"), [
    ("user", "--container 'user': expected KEY=VALUE"),
    ("security_opt=seccomp=unconfined", "--container security_opt: learn sets the seccomp profile itself"),
    ("privileged=true", "--container privileged: a privileged container has no seccomp filter to learn"),
    ("command=ls", "--container command: the workload is the command"),
    ("memory=1g", "--container memory: unknown container option; known: "),
    ("cap_add=CAP_NOPE", "--container cap_add: unknown capability 'CAP_NOPE'"),
    ("mem_limit=garbage", "--container mem_limit: "),
    ("read_only=yes", "--container read_only: "),
])  # fmt: skip
def test_bad_options_are_one_sentence(item: str, message: str) -> None:
    with pytest.raises(BadInput) as err:
        container_options([item])
    assert str(err.value).startswith(message), str(err.value)


def test_the_workloads_cases_and_controls_carry_the_options() -> None:
    own = {"user": "1000", "read_only": True, "tmpfs": {"/run": ""}}
    text = proof.scenario("w", "lab:tools", [proof.Workload("id -u", 0)], "w.json", "w.probe.json", {"read"}, 60, own)
    cases = tomllib.loads(text)["case"]
    workload = next(c for c in cases if c["id"] == "workload-1")
    for opts in (workload["container"], workload["control"]["container"]):
        assert opts["user"] == "1000" and opts["read_only"] is True and opts["tmpfs"] == {"/run": ""}
    probes = [c for c in cases if c["id"] != "workload-1"]
    assert probes and all("user" not in c.get("container", {}) for c in probes)


def test_run_file_is_the_workload_text(tmp_path: Path) -> None:
    script = tmp_path / "w.sh"
    script.write_text("set -e\nmkdir -p /tmp/x\necho done\n")
    assert workload_file(script) == "set -e\nmkdir -p /tmp/x\necho done\n"


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file or directory"),
    (b"", "empty"),
    (b"\xff\xfe", "not UTF-8 text (byte 0)"),
    (b"x" * (64 * 1024 + 1), "larger than 65536 bytes"),
])  # fmt: skip
def test_bad_run_files_name_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    script = tmp_path / "w.sh"
    if content is not None:
        script.write_bytes(content)
    with pytest.raises(BadInput) as err:
        workload_file(script)
    assert str(err.value).startswith(f"--run-file {script}: ") and message in str(err.value), str(err.value)


def test_a_folder_is_not_a_run_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"not a regular file|Is a directory"):
        workload_file(tmp_path)
