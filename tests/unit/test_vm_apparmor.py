"""AppArmor profile handling, pure parts and the parser's errors: names, messages that name the file,
what aa-status and /proc/PID/attr/current say, and the skip reasons for hosts without AppArmor."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.system import apparmor as aa

LABS = Path(__file__).resolve().parents[2] / "labs" / "apparmor"


@pytest.mark.parametrize(
    ("file", "names"),
    [("usr.bin.nmap", ["/usr/bin/nmap"]), ("docker-nginx", ["docker-nginx"]), ("broken-profile", ["hardlab-broken"])],
)
def test_profile_names_of_the_lab_profiles(file: str, names: list[str]) -> None:
    assert aa.profile_names((LABS / file).read_text()) == names


def test_profile_names_ignore_comments_and_includes() -> None:
    text = "#include <tunables/global>\n# profile not-me {\nprofile a flags=(complain) {\n}\n/usr/bin/b {\n}\n"
    assert aa.profile_names(text) == ["a", "/usr/bin/b"]


def test_the_lab_profiles_carry_the_rules_the_scenarios_test() -> None:
    nginx = (LABS / "docker-nginx").read_text()
    rules = ("deny network raw,", "deny /{,usr/}bin/top mrwklx,", "deny /root/** wl,", "deny /{,usr/}bin/sh mrwklx,")
    for rule in rules:
        assert rule in nginx, rule
    assert "/usr/bin/nmap mr," in (LABS / "usr.bin.nmap").read_text()


def test_parser_message_drops_cache_noise() -> None:
    stderr = (
        "Cache read/write disabled: interface file missing. (Kernel needs AppArmor 2.4 compatibility patch.)\n"
        "AppArmor parser error for broken-profile in profile broken-profile at line 9: syntax error, "
        "unexpected TOK_DENY, expecting TOK_END_OF_RULE\n"
    )
    assert aa.parser_message(stderr) == (
        "AppArmor parser error for broken-profile in profile broken-profile at line 9: syntax error, "
        "unexpected TOK_DENY, expecting TOK_END_OF_RULE"
    )
    assert aa.parser_message("Cache read/write disabled: x\n") == "(apparmor_parser gave no message)"


def test_error_text_names_the_file_action_and_reason() -> None:
    text = aa.error_text(Path("/x/docker-nginx"), "load", 1, "AppArmor parser error: boom\n")
    assert text == "/x/docker-nginx: apparmor_parser could not load this profile (exit 1): AppArmor parser error: boom"


def test_missing_profile_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(aa.ProfileError, match=f"^{tmp_path / 'nope'}: profile file not found$"):
        aa.run_compile(tmp_path / "nope")


def test_missing_parser_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "p"
    profile.write_text("profile p {}\n")
    monkeypatch.setattr(aa, "PARSER", "apparmor_parser-not-installed")
    with pytest.raises(aa.ProfileError, match="cannot compile it: apparmor_parser is not installed"):
        aa.run_compile(profile)


def test_kernel_reason_names_the_missing_lsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aa, "ENABLED", tmp_path / "absent")
    assert aa.kernel_reason() == "this kernel has no AppArmor LSM (/sys/module/apparmor absent)"
    flag = tmp_path / "enabled"
    flag.write_text("N\n")
    monkeypatch.setattr(aa, "ENABLED", flag)
    assert "disabled" in aa.kernel_reason() and "apparmor=1 security=apparmor" in aa.kernel_reason()
    flag.write_text("Y\n")
    monkeypatch.setattr(aa, "PROFILES", tmp_path / "apparmor" / "profiles")
    assert "securityfs" in aa.kernel_reason()
    (tmp_path / "apparmor").mkdir()
    assert aa.kernel_reason() is None


def test_loaded_profiles_as_aa_status_reads_them() -> None:
    text = "docker-default (enforce)\n/usr/bin/nmap (enforce)\nhardlab test (complain)\n"
    assert aa.loaded(text) == {"docker-default": "enforce", "/usr/bin/nmap": "enforce", "hardlab test": "complain"}


@pytest.mark.parametrize(
    ("attr", "expected"),
    [("docker-default (enforce)\n", ("docker-default", "enforce")), ("unconfined\n", ("unconfined", None)),
     ("/usr/bin/nmap (enforce)\0", ("/usr/bin/nmap", "enforce"))],
)  # fmt: skip
def test_confinement_from_proc_attr(attr: str, expected: tuple[str, str | None]) -> None:
    assert aa.confinement(attr) == expected
