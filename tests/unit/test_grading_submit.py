"""Untrusted submissions: path confinement, file checks, the run-options allow-list, offline Dockerfiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hardlab.grading.dockerfile import parse_dockerfile
from hardlab.grading.limits import Limits
from hardlab.grading.options import option_problems, parse_options, read_seccomp, stage_option_files
from hardlab.grading.submit import (
    SubmissionError,
    context_hash,
    read_context,
    read_file,
    read_text,
    students,
    write_context,
)

LIMITS = Limits()
LAB = {"lab:busybox", "lab:tools"}


@pytest.fixture
def alice(tmp_path: Path) -> Path:
    folder = tmp_path / "subs" / "alice"
    (folder / "seccomp").mkdir(parents=True)
    (folder / "seccomp" / "p.json").write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    (tmp_path / "secret.txt").write_text("instructor's key")
    return folder


def test_read_file_accepts_a_plain_file(alice: Path) -> None:
    assert read_file(alice, "seccomp/p.json", "alice/seccomp/p.json", 1000) == b'{"defaultAction": "SCMP_ACT_ALLOW"}'


@pytest.mark.parametrize("rel", ["../../secret.txt", "seccomp/../../../secret.txt", "/etc/passwd"])
def test_read_file_refuses_climbing_out(alice: Path, rel: str) -> None:
    with pytest.raises(SubmissionError, match=r"climbs out|absolute"):
        read_file(alice, rel, f"alice/{rel}", 1000)


def test_read_file_refuses_a_symlinked_file(alice: Path) -> None:
    (alice / "seccomp" / "link.json").symlink_to(alice.parent.parent / "secret.txt")
    with pytest.raises(SubmissionError, match=r"alice/seccomp/link.json: is a symlink"):
        read_file(alice, "seccomp/link.json", "alice/seccomp/link.json", 1000)


def test_read_file_refuses_a_symlinked_folder(alice: Path) -> None:
    (alice / "outside").symlink_to(alice.parent.parent)
    with pytest.raises(SubmissionError, match="outside is a symlink"):
        read_file(alice, "outside/secret.txt", "alice/outside/secret.txt", 1000)


def test_read_file_refuses_a_hard_link_without_showing_it(alice: Path) -> None:
    os.link(alice.parent.parent / "secret.txt", alice / "seccomp" / "hard.json")
    with pytest.raises(SubmissionError) as info:
        read_file(alice, "seccomp/hard.json", "alice/seccomp/hard.json", 1000)
    assert str(info.value).startswith("alice/seccomp/hard.json: is a hard link (2 names for one file)")
    assert "instructor" not in str(info.value)


def test_read_file_refuses_a_fifo_without_blocking(alice: Path) -> None:
    os.mkfifo(alice / "seccomp" / "fifo.json")
    with pytest.raises(SubmissionError, match=r"alice/seccomp/fifo.json: is not a regular file"):
        read_file(alice, "seccomp/fifo.json", "alice/seccomp/fifo.json", 1000)


def test_read_file_missing_file_and_folder_in_the_way(alice: Path) -> None:
    with pytest.raises(SubmissionError, match=r"file not found \(the course expects it at seccomp/none.json\)"):
        read_file(alice, "seccomp/none.json", "alice/seccomp/none.json", 1000)
    with pytest.raises(SubmissionError, match="is not a regular file"):
        read_file(alice, "seccomp", "alice/seccomp", 1000)
    with pytest.raises(SubmissionError, match=r"seccomp/p.json is not a folder"):
        read_file(alice, "seccomp/p.json/x", "alice/seccomp/p.json/x", 1000)


def test_read_text_rejects_huge_binary_and_non_utf8(alice: Path) -> None:
    (alice / "big.json").write_bytes(b" " * (LIMITS.max_file_bytes + 1))
    with pytest.raises(SubmissionError, match=r"alice/big.json: 65537 bytes is more than the course allows \(65536"):
        read_text(alice, "big.json", "alice/big.json", LIMITS.max_file_bytes)
    (alice / "bin.json").write_bytes(b"{\n\n\x00\x01")
    with pytest.raises(SubmissionError, match=r"alice/bin\.json: line 3: a binary file"):
        read_text(alice, "bin.json", "alice/bin.json", LIMITS.max_file_bytes)
    (alice / "latin.json").write_bytes('{\n"comment": "caf\xe9"\n}'.encode("latin-1"))
    with pytest.raises(SubmissionError, match=r"alice/latin.json: line 2: not UTF-8 text \(byte 0xe9\)"):
        read_text(alice, "latin.json", "alice/latin.json", LIMITS.max_file_bytes)


def test_invalid_seccomp_json_names_file_and_line() -> None:
    with pytest.raises(SubmissionError, match=r"alice/p.json at line 3 column 3"):
        read_seccomp('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n  "syscalls": []\n}', "alice/p.json")


def test_students_skips_symlinks_and_bad_names(tmp_path: Path) -> None:
    for name in ("bob", "alice", "bad name", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "eve").symlink_to(tmp_path / "bob")
    (tmp_path / "notes.txt").write_text("x")
    names, problems = students(tmp_path)
    assert names == ["alice", "bob"]
    assert len(problems) == 3 and any("eve: is a symlink" in p for p in problems)


ALLOW_SYS_TIME = {"cap_add": ("CAP_SYS_TIME",)}


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"privileged": True}, "privileged is not allowed in this assignment: --privileged gives"),
        ({"volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}, "volumes is not allowed"),
        ({"network_mode": "host"}, "network_mode is not allowed"),
        ({"pid_mode": "host"}, "pid_mode is not allowed"),
        ({"ipc_mode": "host"}, "ipc_mode is not allowed"),
        ({"devices": ["/dev/sda:/dev/sda"]}, "devices is not allowed"),
        ({"cap_add": ["SYS_ADMIN"]}, "cap_add CAP_SYS_ADMIN is not allowed here (this assignment allows only CAP_SYS"),
        ({"cap_add": ["ALL"]}, "cap_add ALL is not allowed here"),
        ({"security_opt": ["seccomp=unconfined"]}, "security_opt 'seccomp=unconfined' is not allowed here"),
        ({"pids_limit": -1}, "pids_limit = -1 means no limit"),
        ({"pids_limit": 100000}, "pids_limit = 100000 is above the course limit 256"),
        ({"mem_limit": "4g"}, "mem_limit = '4g' is above the course limit 128m"),
        ({"nano_cpus": 4_000_000_000}, "nano_cpus = 4000000000 is outside the course limit"),
    ],
)  # fmt: skip
def test_allow_list_refuses(options: dict, needle: str) -> None:
    found = option_problems(options, ALLOW_SYS_TIME, LIMITS)
    assert any(needle in p for p in found), found


@pytest.mark.parametrize(
    "options",
    [{"cap_drop": ["ALL"], "cap_add": ["SYS_TIME"]}, {"cap_add": ["cap_sys_time"]}, {"pids_limit": 64},
     {"read_only": True, "security_opt": ["no-new-privileges"]}, {"mem_limit": "64m", "user": "1000"}],
)  # fmt: skip
def test_allow_list_accepts(options: dict) -> None:
    assert option_problems(options, ALLOW_SYS_TIME, LIMITS) == []


def test_allow_list_exact_values() -> None:
    allow = {"network_mode": ("none",)}
    assert option_problems({"network_mode": "none"}, allow, LIMITS) == []
    assert option_problems({"network_mode": "host"}, allow, LIMITS) == [
        "network_mode = 'host' is not allowed here (allowed: 'none')"
    ]


def test_parse_options_names_file_line_and_key() -> None:
    with pytest.raises(SubmissionError, match=r"alice/run.toml:2: invalid TOML"):
        parse_options('cap_drop = ["ALL"]\ncap_add = [SYS_TIME]\n', "alice/run.toml")
    with pytest.raises(SubmissionError, match=r"alice/run.toml:2: cap_ad: unknown key \(did you mean 'cap_add'\?\)"):
        parse_options('cap_drop = ["ALL"]\ncap_ad = ["SYS_TIME"]\n', "alice/run.toml")
    with pytest.raises(SubmissionError, match=r"alice/run.toml:1: pids_limit: expected an integer"):
        parse_options('pids_limit = "64"\n', "alice/run.toml")
    assert parse_options('cap_drop = ["ALL"]\n', "x") == {"cap_drop": ["ALL"]}


def test_dockerfile_from_a_lab_image() -> None:
    text = "# comment\nFROM lab:busybox\nRUN echo a \\\n  && echo b\nUSER 1000\n"
    assert parse_dockerfile(text, "alice/Dockerfile", LAB) == [
        (2, "FROM", "lab:busybox"), (3, "RUN", "echo a && echo b"), (5, "USER", "1000"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("FROM debian:bookworm\nUSER 1\n", "line 1: FROM debian:bookworm would need a pull from a registry"),
        ("FROM lab:busybox\nFROM lab:tools\n", "line 2: a second FROM: multi-stage builds are not supported"),
        ("FROM lab:busybox\nADD http://x/y /y\n", "line 2: ADD is not supported"),
        ("FROM lab:busybox\nCOPY ../secret /s\n", "line 2: COPY ../secret: '../secret' climbs out"),
        ("FROM lab:busybox\nCOPY --from=x /a /b\n", "COPY flags (--from=x) are not supported"),
        ("FROM lab:busybox\nRUN --network=host true\n", "RUN flags (--network=host) are not allowed"),
        ("FROM lab:busybox\nVOLUME /data\n", "VOLUME is not supported by the course builder"),
        ("USER 1\n", "line 1: the first instruction must be FROM"),
        ("# nothing\n", "no FROM instruction"),
        ("FROM lab:busybox\nEXPOSE notaport\n", "line 2: EXPOSE notaport: expected a port number"),
        ("FROM lab:busybox\nEXPOSE 80 99999\n", "line 2: EXPOSE 99999: expected a port number"),
    ],
)
def test_dockerfile_refusals(text: str, needle: str) -> None:
    with pytest.raises(SubmissionError, match=None) as info:
        parse_dockerfile(text, "alice/Dockerfile", LAB)
    assert needle in str(info.value)
    assert str(info.value).startswith("alice/Dockerfile")


def test_read_context_refuses_links_and_bounds_size(tmp_path: Path) -> None:
    src = tmp_path / "alice" / "image"
    (src / "sub").mkdir(parents=True)
    (src / "Dockerfile").write_text("FROM lab:busybox\n")
    (src / "sub" / "a.txt").write_text("a")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    files = read_context(tmp_path / "alice", "image", "alice/image", 1000, 10)
    assert sorted(files) == ["Dockerfile", "run.sh", "sub", "sub/a.txt"] and files["sub"] is None
    dest = tmp_path / "dest"
    write_context(files, dest)
    assert (dest / "sub" / "a.txt").read_text() == "a" and os.access(dest / "run.sh", os.X_OK)
    assert context_hash(files) == context_hash(read_context(tmp_path / "alice", "image", "alice/image", 1000, 10))
    with pytest.raises(SubmissionError, match=r"alice/image: the build folder holds more than 3 files and folders"):
        read_context(tmp_path / "alice", "image", "alice/image", 1000, 3)
    (src / "big").write_bytes(b"x" * 2000)
    with pytest.raises(SubmissionError, match="larger than the course allows"):
        read_context(tmp_path / "alice", "image", "alice/image", 1000, 10)
    os.remove(src / "big")
    (src / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(SubmissionError, match="alice/image/passwd: is a symlink"):
        read_context(tmp_path / "alice", "image", "alice/image", 1000, 10)
    os.remove(src / "passwd")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    os.link(secret, src / "sub" / "leak")
    with pytest.raises(SubmissionError, match=r"alice/image/sub/leak: is a hard link") as info:
        read_context(tmp_path / "alice", "image", "alice/image", 1000, 10)
    assert "TOP-SECRET" not in str(info.value)


def test_read_context_odd_names_and_deep_paths_are_sentences(tmp_path: Path) -> None:
    src = tmp_path / "alice" / "image"
    src.mkdir(parents=True)
    (src / "Dockerfile").write_text("FROM lab:busybox\n")
    odd = os.fsencode(str(src)) + b"/caf\xe9"
    with open(odd, "wb") as handle:
        handle.write(b"x")
    with pytest.raises(SubmissionError, match=r"alice/image/caf\\xe9: its name is not UTF-8"):
        read_context(tmp_path / "alice", "image", "alice/image", 1000, 10)
    os.remove(odd)
    (src / "new\nline").write_text("x")
    with pytest.raises(SubmissionError, match=r"alice/image/new\\nline: its name holds control characters"):
        read_context(tmp_path / "alice", "image", "alice/image", 1000, 10)
    os.remove(src / "new\nline")
    fd = os.open(src, os.O_RDONLY)  # 25 x 201 bytes: past the host's PATH_MAX, made one folder at a time
    try:
        for _ in range(25):
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    with pytest.raises(SubmissionError, match=r"the path is longer than 1024 bytes"):
        read_context(tmp_path / "alice", "image", "alice/image", 10**6, 1000)


def test_profile_paths_stay_inside_the_submission(alice: Path, tmp_path: Path) -> None:
    outside = ["seccomp=/dev/zero", "seccomp=/etc/shadow", "seccomp=/nonexistent/x.json",
               "seccomp=../bob/seccomp/p.json", "seccomp=../../secret.txt"]  # fmt: skip
    messages = set()
    for opt in outside:
        with pytest.raises(SubmissionError) as info:
            stage_option_files({"security_opt": [opt]}, alice, "alice", "alice/run.toml", tmp_path / "st", LIMITS)
        messages.add(str(info.value))
    assert messages == {"alice/run.toml: security_opt[0]: a seccomp profile must be a file inside your submission, "
                        "named by a path relative to your folder (no leading '/', no '..')"}  # fmt: skip
    staged = stage_option_files({"security_opt": ["seccomp=seccomp/p.json"], "pids_limit": 64}, alice, "alice",
                                "alice/run.toml", tmp_path / "st", LIMITS)  # fmt: skip
    assert staged["pids_limit"] == 64
    path = Path(staged["security_opt"][0].removeprefix("seccomp="))
    assert path.is_absolute() and path.read_text() == '{"defaultAction": "SCMP_ACT_ALLOW"}'


def test_parse_options_does_not_open_profile_paths() -> None:
    # The checker would read /dev/zero on the host: never for a submission.
    assert parse_options('security_opt = ["seccomp=/dev/zero"]\n', "alice/run.toml") == {
        "security_opt": ["seccomp=/dev/zero"]
    }


def test_pids_limit_too_low_to_grade() -> None:
    assert option_problems({"pids_limit": 5}, {}, LIMITS) == [
        "pids_limit = 5 is below 16: not even the grader's exec could start (its threads count as pids)"
    ]
