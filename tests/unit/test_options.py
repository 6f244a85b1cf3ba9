"""Container options in the forms a user writes them: what they become, and their values checked once bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab import spec
from hardlab.core.inputs import InputError, bind, container_for

CASE = """
[[case]]
id = "c"
image = "lab:tools"
container = {container}

[[case.step]]
exec = ["true"]
control = true
exit_code = 0
"""


def test_dotted_sysctl_keys_are_the_sysctl_name(load_scenario) -> None:
    sc = load_scenario(CASE.format(container='{ sysctls = { net.ipv4.ip_forward = "1", "kernel.msgmax" = "64" } }'))
    assert sc.cases[0].container["sysctls"] == {"net.ipv4.ip_forward": "1", "kernel.msgmax": "64"}


def test_tmpfs_as_a_list_is_the_table_docker_py_would_make(load_scenario) -> None:
    sc = load_scenario(CASE.format(container='{ tmpfs = ["/run", "/tmp:size=64m,mode=1777"] }'))
    assert sc.cases[0].container["tmpfs"] == {"/run": "", "/tmp": "size=64m,mode=1777"}


def test_a_tmpfs_list_naming_a_mount_twice_is_a_problem(load_scenario) -> None:
    with pytest.raises(spec.ScenarioError) as caught:
        load_scenario(CASE.format(container='{ tmpfs = ["/tmp", "/tmp:size=1m"] }'))
    assert [p.message for p in caught.value.problems] == ["mounts '/tmp' twice"]


def test_an_option_from_outside_is_checked_before_the_engine_sees_it(load_scenario) -> None:
    body = '[inputs.limit]\nkind = "text"\ndefault = 64\n' + CASE.format(container='{ pids_limit = "${limit}" }')
    sc = load_scenario(body)
    case = sc.cases[0]
    assert container_for(case, bind(sc))["pids_limit"] == 64
    with pytest.raises(InputError, match=r"case c: pids_limit: expected an integer, got 'lots'"):
        container_for(case, bind(sc, {"limit": "lots"}))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[project]\nname = 'x'\n", "no schema_version, [scenario] or [[case]]"),
        ("schema_version = 1\n[course]\nid = 'c'\n", "a course file"),
        ("schema_version = 1\n[profile]\nname = 'p'\n", "a host profile"),
        ("cap_drop = ['ALL']\n", "no schema_version, [scenario] or [[case]]"),
        ("schema_version = 1\n", ""),  # a scenario with problems: loading it says which
        ("[scenario\n", ""),  # not TOML: loading it says where
        ("x = " + "[" * 5000, ""),
    ],
)
def test_which_toml_files_in_a_folder_are_scenarios(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(text)
    assert spec.not_a_scenario(path) == why


def test_size_bytes_reads_what_docker_py_reads() -> None:
    assert [spec.size_bytes(v) for v in ("256m", "1g", "64k", "10b", "1.5m", "256mb", 1024)] == [
        256 * 1024**2, 1024**3, 64 * 1024, 10, int(1.5 * 1024**2), 256 * 1024**2, 1024,
    ]  # fmt: skip
    assert [spec.size_bytes(v) for v in ("garbage", "2t", "", True, "m")] == [None] * 5
