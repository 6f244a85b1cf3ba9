"""daemon.json parsing and permission-bit comparisons (pure, no docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.audit import daemonconf as dc


@pytest.mark.parametrize(
    ("actual", "allowed", "ok", "excess"),
    [
        (0o660, 0o660, True, ""),
        (0o600, 0o660, True, ""),
        (0o640, 0o644, True, ""),
        (0o400, 0o444, True, ""),
        # the decimal trap: 606 < 660 as numbers, yet it gives everyone read and write
        (0o606, 0o660, False, "other read, other write"),
        (0o755, 0o644, False, "owner execute, group execute, other execute"),
        (0o4644, 0o644, False, "setuid"),
        (0o666, 0o660, False, "other read, other write"),
        (0o444, 0o400, False, "group read, other read"),
    ],
)
def test_modes_compare_as_bits_not_decimals(actual: int, allowed: int, ok: bool, excess: str) -> None:
    assert dc.at_most(actual, allowed) is ok
    good, evidence = dc.mode_verdict(actual, allowed)
    assert good is ok
    if not ok:
        assert f"grants {excess} (" in evidence
        assert f"beyond the allowed {allowed:04o}" in evidence


def test_decimal_comparison_would_have_passed_the_dangerous_mode() -> None:
    assert int(f"{0o606:o}") < int(f"{0o660:o}")  # what a decimal comparison concludes: "more restrictive"
    assert not dc.at_most(0o606, 0o660)


@pytest.mark.parametrize("text", ["0644", "644", "0o644", 0o644])
def test_parse_mode_reads_octal(text: str | int) -> None:
    assert dc.parse_mode(text) == 0o644


@pytest.mark.parametrize("text", ["999", "rwx", "", "12345", True, -1, 0o17777])
def test_parse_mode_rejects_non_modes(text: str | int) -> None:
    with pytest.raises(ValueError, match="mode"):
        dc.parse_mode(text)


@pytest.mark.parametrize(
    ("mode", "text"), [(0o4755, "rwsr-xr-x"), (0o1777, "rwxrwxrwt"), (0o660, "rw-rw----"), (0o2640, "rw-r-S---")]
)
def test_symbolic(mode: int, text: str) -> None:
    assert dc.symbolic(mode) == text


def test_owner_verdict() -> None:
    assert dc.owner_verdict("root", "docker", "root", ("docker",)) == (True, "owned by root:docker")
    ok, evidence = dc.owner_verdict("user", "docker", "root", ("docker",))
    assert not ok and evidence == "owned by user:docker, expected root:docker"


def test_parse_valid_file() -> None:
    data = dc.parse('{\n  "icc": false,\n  "userns-remap": "default",\n  "insecure-registries": []\n}\n')
    assert data == {"icc": False, "userns-remap": "default", "insecure-registries": []}


def test_empty_file_means_defaults() -> None:
    assert dc.parse("  \n") == {}


def test_comments_are_refused_with_their_line() -> None:
    text = '{\n  "icc": false,\n  // keep containers apart\n  "live-restore": true\n}\n'
    with pytest.raises(dc.DaemonConfError) as err:
        dc.parse(text, "/etc/docker/daemon.json")
    (problem,) = err.value.problems
    assert (problem.file, problem.line) == ("/etc/docker/daemon.json", 3)
    assert "comments are not JSON; dockerd refuses to start" in str(problem)


def test_wrong_types_name_file_line_and_key_all_at_once() -> None:
    text = '{\n  "icc": "false",\n  "live-restore": 1,\n  "insecure-registries": ["a", 2],\n  "log-driver": null\n}'
    with pytest.raises(dc.DaemonConfError) as err:
        dc.parse(text, "d.json")
    got = [str(p) for p in err.value.problems]
    assert got == [
        'd.json:2: icc: must be true/false, got "false" (string)',
        "d.json:3: live-restore: must be true/false, got 1 (number)",
        'd.json:4: insecure-registries: must be a list of strings, got ["a", 2] (list)',
        "d.json:5: log-driver: must be a string, got null (null)",
    ]


def test_unknown_keys_are_left_to_dockerd() -> None:
    assert dc.parse('{"features": {"buildkit": true}}') == {"features": {"buildkit": True}}


def test_syntax_error_has_its_line() -> None:
    with pytest.raises(dc.DaemonConfError, match=r"d.json:3: not valid JSON"):
        dc.parse('{\n  "icc": false,\n}\n', "d.json")


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(dc.DaemonConfError, match="must be a JSON object, not list"):
        dc.parse("[]", "d.json")


def test_missing_file_is_a_valid_state(tmp_path: Path) -> None:
    conf = dc.load(tmp_path / "daemon.json")
    assert not conf.present and conf.values == {}


def test_load_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"live-restore": true}')
    conf = dc.load(path)
    assert conf.present and conf.get("live-restore") is True


def test_cmdline_flags_become_daemon_json_keys() -> None:
    argv = ["/usr/sbin/dockerd", "--icc=false", "-H", "unix:///x.sock", "--host=tcp://0.0.0.0:2375",
            "--live-restore", "--userns-remap", "default", "--insecure-registry", "r:5000", "--debug"]  # fmt: skip
    flags = dc.parse_cmdline(argv)
    assert flags == {"icc": False, "hosts": ["unix:///x.sock", "tcp://0.0.0.0:2375"], "live-restore": True,
                     "userns-remap": "default", "insecure-registries": ["r:5000"]}  # fmt: skip


def test_effective_config_merges_file_and_flags() -> None:
    conf = dc.DaemonConf("d.json", True, {"insecure-registries": ["a:1"], "icc": True})
    eff = dc.effective(conf, {"insecure-registries": ["b:2"], "live-restore": True})
    assert eff == {"insecure-registries": ["a:1", "b:2"], "icc": True, "live-restore": True}
