"""Binding a scenario's inputs: defaults, overrides from outside, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab import spec
from hardlab.core.inputs import InputError, bind, container_for, steps_for

DENY = '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}'
BODY = """
[inputs.profile]
kind = "seccomp"
default = "deny.json"

[inputs.hardening]
kind = "options"
default = { read_only = true, cap_drop = ["ALL"] }

[inputs.marker]
kind = "file"
default = "marker.txt"

[inputs.greeting]
kind = "text"
default = "hello"

[[case]]
id = "c"
container = { security_opt = ["seccomp=${profile}"], environment = { G = "${greeting}" }, read_only = false }
use_inputs = ["hardening"]

[[case.step]]
shell = "echo ${greeting} && cat ${marker}"
control = true
exit_code = 0
"""


@pytest.fixture
def scenario(load_scenario) -> spec.Scenario:
    return load_scenario(BODY, deny_json=DENY, marker_txt="x\n")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder of a student's submission, away from the scenario."""
    folder = tmp_path / "submission"
    folder.mkdir()
    return folder


def test_defaults_are_resolved_next_to_the_scenario(scenario: spec.Scenario, tmp_path: Path) -> None:
    values = bind(scenario)
    assert values == {
        "profile": str(tmp_path / "deny.json"),
        "hardening": {"read_only": True, "cap_drop": ["ALL"]},
        "marker": str(tmp_path / "marker.txt"),
        "greeting": "hello",
    }


def test_values_fill_the_container_and_the_steps(scenario: spec.Scenario, tmp_path: Path) -> None:
    values = bind(scenario)
    (case,) = scenario.cases
    container = container_for(case, values)
    assert container["security_opt"] == [f"seccomp={tmp_path / 'deny.json'}"]
    assert container["environment"] == {"G": "hello"}
    # use_inputs options go on top of the case's own.
    assert container["read_only"] is True
    assert container["cap_drop"] == ["ALL"]
    assert case.container["security_opt"] == ["seccomp=${profile}"]  # the case itself is unchanged
    (step,) = steps_for(case.steps, values)
    assert step.argv == ("/bin/sh", "-c", f"echo hello && cat {tmp_path / 'marker.txt'}")


def test_overrides_absolute_and_relative_to_the_current_folder(
    scenario: spec.Scenario, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (elsewhere / "mine.json").write_text(DENY)
    (elsewhere / "note.txt").write_text("n")
    monkeypatch.chdir(elsewhere)
    values = bind(scenario, {"profile": "mine.json", "marker": str(elsewhere / "note.txt"), "greeting": "bye"})
    assert values["profile"] == str(elsewhere / "mine.json")
    assert values["marker"] == str(elsewhere / "note.txt")
    assert values["greeting"] == "bye"
    assert values["hardening"] == {"read_only": True, "cap_drop": ["ALL"]}  # not overridden: the default


def test_an_options_override_replaces_the_default_table(scenario: spec.Scenario) -> None:
    values = bind(scenario, {"hardening": {"pids_limit": 32}})
    assert values["hardening"] == {"pids_limit": 32}


def test_an_options_input_from_a_toml_file(scenario: spec.Scenario, elsewhere: Path) -> None:
    options = elsewhere / "options.toml"
    options.write_text('read_only = true\ncap_drop = ["ALL"]\ncap_add = ["NET_BIND_SERVICE"]\npids_limit = 64\n')
    values = bind(scenario, {"hardening": str(options)})
    assert values["hardening"] == {"read_only": True, "cap_drop": ["ALL"], "cap_add": ["NET_BIND_SERVICE"],
                                   "pids_limit": 64}  # fmt: skip
    container = container_for(scenario.cases[0], values)
    assert container["pids_limit"] == 64 and container["cap_add"] == ["NET_BIND_SERVICE"]
    assert bind(scenario, {"hardening": options})["hardening"] == values["hardening"]  # a Path works too


def test_a_missing_override_file_names_the_input_and_the_path(scenario: spec.Scenario, elsewhere: Path) -> None:
    missing = elsewhere / "absent.json"
    with pytest.raises(InputError) as caught:
        bind(scenario, {"profile": str(missing)})
    assert str(caught.value) == f"input 'profile' (given from outside): file not found: {missing}"


def test_a_default_file_gone_since_load_names_the_scenario_and_key(scenario: spec.Scenario, tmp_path: Path) -> None:
    (tmp_path / "marker.txt").unlink()
    with pytest.raises(InputError) as caught:
        bind(scenario)
    assert str(caught.value).startswith(f"{scenario.path}: inputs.marker.default: file not found: ")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [}', "at line 2 column 16"),
        ('{"syscalls": []}', "'defaultAction' must be an SCMP_ACT_* string"),
    ],
)
def test_an_invalid_seccomp_override_names_its_own_path(
    scenario: spec.Scenario, elsewhere: Path, text: str, fragment: str
) -> None:
    bad = elsewhere / "student.json"
    bad.write_text(text)
    with pytest.raises(InputError) as caught:
        bind(scenario, {"profile": str(bad)})
    assert str(bad) in str(caught.value)
    assert fragment in str(caught.value)


def test_a_seccomp_override_that_is_not_text(scenario: spec.Scenario, elsewhere: Path) -> None:
    bad = elsewhere / "binary.json"
    bad.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match="not UTF-8") as caught:
        bind(scenario, {"profile": str(bad)})
    assert str(bad) in str(caught.value)


def test_an_unknown_override_name(scenario: spec.Scenario) -> None:
    with pytest.raises(InputError) as caught:
        bind(scenario, {"profil": "x.json", "zzz": "y"})
    assert str(caught.value) == (
        f"{scenario.path}: no input named profil, zzz; it declares greeting, hardening, marker, profile"
    )


def test_an_override_for_a_scenario_without_inputs(load_scenario) -> None:
    sc = load_scenario('[[case]]\nid = "c"\nno_control_reason = "n/a"\nstep = [{ exec = ["true"], exit_code = 0 }]\n')
    assert bind(sc) == {}
    with pytest.raises(InputError, match="no input named profile; it declares none"):
        bind(sc, {"profile": "p.json"})


def test_unknown_run_options_in_an_options_file(scenario: spec.Scenario, elsewhere: Path) -> None:
    options = elsewhere / "options.toml"
    options.write_text("privilegd = true\nread_only = true\n")
    with pytest.raises(InputError) as caught:
        bind(scenario, {"hardening": str(options)})
    assert str(caught.value) == "input 'hardening' (given from outside): unknown run option 'privilegd'"


def test_an_options_file_that_is_not_toml(scenario: spec.Scenario, elsewhere: Path) -> None:
    options = elsewhere / "options.toml"
    options.write_text("read_only = \n")
    with pytest.raises(InputError) as caught:
        bind(scenario, {"hardening": str(options)})
    assert str(caught.value).startswith(f"{options}: cannot read run options: ")
    assert "line 1" in str(caught.value)


def test_a_missing_options_file(scenario: spec.Scenario, elsewhere: Path) -> None:
    with pytest.raises(InputError, match="cannot read run options") as caught:
        bind(scenario, {"hardening": str(elsewhere / "absent.toml")})
    assert "absent.toml" in str(caught.value)


def test_options_that_are_not_a_table(scenario: spec.Scenario) -> None:
    with pytest.raises(InputError, match="run options must be a table"):
        bind(scenario, {"hardening": ["read_only"]})


def test_a_case_with_an_unbound_placeholder(scenario: spec.Scenario) -> None:
    with pytest.raises(InputError, match=r"case c: no value for input \$\{profile\}"):
        container_for(scenario.cases[0], {"hardening": {}})


def test_steps_without_values_are_unchanged(scenario: spec.Scenario) -> None:
    steps = scenario.cases[0].steps
    assert steps_for(steps, {}) is steps
    assert steps_for(steps, {"greeting": "hi"})[0].argv[2] == "echo hi && cat ${marker}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [('read_only = "yes"\n', "read_only"), ('cap_add = ["NET_ADMN"]\n', "NET_ADMN")],
    ids=["wrong-type", "unknown-capability"],
)
def test_options_from_outside_are_checked_like_the_default(
    scenario: spec.Scenario, elsewhere: Path, text: str, fragment: str
) -> None:
    # The same table as a default is a load error naming the key; from a student's file it must be too,
    # instead of reaching the engine as a harness error.
    options = elsewhere / "options.toml"
    options.write_text(text)
    with pytest.raises(InputError, match=fragment):
        bind(scenario, {"hardening": str(options)})
