"""Grading the sample course on the real engine: each sample solution earns exactly its score, feedback says
why, hostile submissions are refused without touching other students, and two runs grade the same."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hardlab.engine import labels

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "labs" / "course"
FULL = {"ex11-06": 6, "act11-01": 6, "ex11-05": 3, "caps": 4, "pids": 3, "nonroot": 3}
# What each sample solution must score, per assignment (everything not listed: full marks).
EXPECTED: dict[str, dict[str, float]] = {
    "reference": {},
    "blocks-nothing": {"ex11-06": 0, "act11-01": 0},
    "blocks-everything": {"ex11-06": 0, "act11-01": 0},
    "invalid-json": {"ex11-06": 0},
    "misses-fchownat": {"ex11-06": 4},
    "misses-chown32": {"ex11-06": 5},
    "apparmor-broken": {"ex11-05": 0},
    "caps-privileged": {"caps": 0},
    "caps-no-drop": {"caps": 1},
    "pids-loose": {"pids": 1},
    "pids-too-tight": {"pids": 2},
    "root-image": {"nonroot": 0},
    "pulls-image": {"nonroot": 0},
}


def grade(submissions: Path, out: Path, *extra: str, course: Path = COURSE / "course.toml",
          run_id: str = "") -> tuple[int, str]:  # fmt: skip
    """`hardlab grade`; with `run_id`, its containers and images carry it (HARDLAB_RUN_ID), so a test can
    check what this grading left without counting what tests beside it are running."""
    cmd = [sys.executable, "-m", "hardlab.cli", "grade", str(submissions), "--course", str(course),
           "--out", str(out), "-n", "2", *extra]  # fmt: skip
    env = {**os.environ, **({"HARDLAB_RUN_ID": run_id} if run_id else {})}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    return done.returncode, done.stdout + done.stderr


def left_by(client: Any, run_id: str) -> tuple[list[str], list[str]]:
    """(containers, grading images) of runs whose id starts with `run_id` that are still on the engine."""
    mine = [c.id for c in client.containers.list(all=True, ignore_removed=True, filters={"label": labels.RUN})
            if c.labels.get(labels.RUN, "").startswith(run_id)]  # fmt: skip
    tags = [t for i in client.images.list(all=True) for t in i.tags
            if t.startswith("hardlab-grade/") and t.rpartition(":")[2].startswith(run_id.lower())]  # fmt: skip
    return mine, tags


def scores(out: Path, name: str = "feedback.json") -> dict[str, dict[str, Any]]:
    data = json.loads((out / name).read_text())
    return {s["student"]: {a["id"]: a for a in s["assignments"]} for s in data["students"]}


def check(assignments: dict[str, Any], aid: str, case: str) -> dict[str, Any]:
    return next(c for c in assignments[aid]["checks"] if c["case"] == case)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Path:
    out = tmp_path_factory.mktemp("grades")
    code, output = grade(COURSE / "submissions", out)
    assert code == 0, output
    return out


def test_every_sample_solution_scores_exactly(graded: Path) -> None:
    got = scores(graded)
    assert sorted(got) == sorted(EXPECTED)
    for student, lost in EXPECTED.items():
        want = {aid: lost.get(aid, full) for aid, full in FULL.items()}
        assert {aid: a["score"] for aid, a in got[student].items()} == want, student
        assert all(a["max"] == FULL[aid] for aid, a in got[student].items())


def test_controls_decide_and_feedback_says_why(graded: Path) -> None:
    got = scores(graded)
    # blocking everything: the container cannot even start; it earns nothing and the student reads why
    blocked = check(got["blocks-everything"], "ex11-06", "deny-chown")
    assert blocked["classification"] == "container-did-not-start"
    assert "CONTAINER DID NOT START" in blocked["message"]
    assert "a profile that refuses everything (or execve, futex, ...) stops the container" in blocked["message"]
    # blocking nothing: the control passed, the blocked step shows expected vs observed, with the hint
    nothing = check(got["blocks-nothing"], "ex11-06", "deny-chown")
    assert "FAIL exit code: expected 1; observed 0" in nothing["message"]
    assert nothing["hint"].startswith("Remove the chown rules")
    fchownat = check(got["misses-fchownat"], "ex11-06", "deny-fchownat")
    assert fchownat["outcome"] == "failed" and "/usr/bin/chown 1001 test.txt" in fchownat["message"]


def test_refusals_name_the_students_file(graded: Path) -> None:
    got = scores(graded)
    bad_json = check(got["invalid-json"], "ex11-06", "deny-chown")
    assert bad_json["outcome"] == "rejected"
    assert "invalid JSON in seccomp profile invalid-json/seccomp/chown.json at line 6 column 7" in bad_json["message"]
    assert got["invalid-json"]["act11-01"]["score"] == 6  # the rest is still graded
    privileged = check(got["caps-privileged"], "caps", "only-sys-time")
    assert "caps-privileged/run/caps.toml: privileged is not allowed in this assignment" in privileged["message"]
    pull = check(got["pulls-image"], "nonroot", "runs-as-non-root")
    assert "pulls-image/image/Dockerfile: line 1: FROM debian:bookworm would need a pull" in pull["message"]
    parser = check(got["apparmor-broken"], "ex11-05", "profile-parses")
    assert "AppArmor parser error for /submitted/usr.bin.nmap" in parser["message"]


def test_reports_are_written(graded: Path) -> None:
    assert (graded / "grades.csv").read_text().startswith("student,assignment,check,points,earned,outcome")
    html = (graded / "summary.html").read_text()
    assert "Per-check pass rates" in html and "deny-fchownat" in html
    report = (graded / "students" / "misses-fchownat.md").read_text()
    assert "**23 / 25 points**" in report and "hint: chown has siblings" in report
    assert (graded / "junit" / "reference.xml").read_text().count("<testcase") == 15


HOSTILE_LIMITS = "[limits]\nbuild_timeout = 15\nstep_timeout = 15\n"


def hostile_course(tmp: Path, extra_limits: str = "") -> Path:
    """The sample course with short build/step limits, its scenario paths made absolute."""
    text = (COURSE / "course.toml").read_text()
    text = text.replace('scenario = "graders/', f'scenario = "{COURSE}/graders/')
    text = text.replace('scenario = "../../scenarios/', f'scenario = "{ROOT}/scenarios/')
    start = text.index("[limits]")
    end = text.index("[[assignment]]")
    path = tmp / "course.toml"
    path.write_text(text[:start] + HOSTILE_LIMITS + extra_limits + "\n" + text[end:])
    return path


def test_hostile_submission_is_refused_and_isolated(tmp_path: Path, docker_client: Any) -> None:
    subs = tmp_path / "subs"
    shutil.copytree(COURSE / "submissions" / "reference", subs / "reference")
    mallory = subs / "mallory"
    shutil.copytree(COURSE / "submissions" / "reference", mallory)
    (mallory / "seccomp" / "chown.json").unlink()
    (mallory / "seccomp" / "chown.json").symlink_to("/etc/passwd")
    (mallory / "seccomp" / "activity.json").write_bytes(b"\x7fELF\x00\x01")
    (mallory / "apparmor" / "usr.bin.nmap").unlink()
    (mallory / "run" / "caps.toml").write_text('volumes = ["/var/run/docker.sock:/var/run/docker.sock"]\n')
    (mallory / "image" / "Dockerfile").write_text("FROM lab:busybox\nRUN sleep 600\nUSER 1000\n")
    out = tmp_path / "out"
    code, output = grade(subs, out, course=hostile_course(tmp_path))
    assert code == 0, output
    got = scores(out)
    assert {aid: a["score"] for aid, a in got["reference"].items()} == FULL
    assert {aid: a["score"] for aid, a in got["mallory"].items()} == {
        "ex11-06": 0, "act11-01": 0, "ex11-05": 0, "caps": 0, "pids": 3, "nonroot": 0,
    }  # fmt: skip
    messages = {aid: a["checks"][0].get("message", "") for aid, a in got["mallory"].items()}
    assert "mallory/seccomp/chown.json: is a symlink" in messages["ex11-06"]
    assert "mallory/seccomp/activity.json: line 1: a binary file" in messages["act11-01"]
    assert "mallory/apparmor/usr.bin.nmap: file not found" in messages["ex11-05"]
    assert "volumes is not allowed in this assignment" in messages["caps"]
    assert "mallory/image/Dockerfile: line 2: RUN sleep 600 was stopped: still running when the time ran out " \
           "(the whole build may take 15s)" in messages["nonroot"]


def test_two_runs_grade_the_same(tmp_path: Path, graded: Path, docker_client: Any) -> None:
    subs = tmp_path / "subs"
    for name in ("reference", "blocks-everything", "misses-fchownat", "caps-no-drop"):
        shutil.copytree(COURSE / "submissions" / name, subs / name)
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        code, output = grade(subs, out)
        assert code == 0, output
    assert (first / "grades.json").read_bytes() == (second / "grades.json").read_bytes()
    assert (first / "grades.csv").read_bytes() == (second / "grades.csv").read_bytes()
    full = scores(graded)
    for student, assignments in scores(first).items():
        assert {a: v["score"] for a, v in assignments.items()} == {a: v["score"] for a, v in full[student].items()}


def test_one_student_checks_their_own_work(tmp_path: Path, docker_client: Any) -> None:
    out = tmp_path / "out"
    code, output = grade(COURSE / "submissions", out, "--student", "misses-fchownat")
    assert code == 0, output
    assert list(scores(out, "grades-misses-fchownat.json")) == ["misses-fchownat"]
    assert "hint: chown has siblings" in (out / "students" / "misses-fchownat.md").read_text()
    assert "misses-fchownat          23/25" in output
    assert not (out / "summary.html").exists()


# ---- a hostile class: every way a submission can reach past its folder, graded in one run --------------

SECRET_LINES = ["root:$6$HARDLAB-CANARY-7f3a9c$Qx1:19000:0:99999:7:::", "hardlab-canary-second-line-52c1e0"]
REFUSED = "rejected"


def _write(folder: Path, rel: str, text: str | bytes) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _link(secret: Path, folder: Path, rel: str) -> None:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    os.link(secret, folder / rel)


DOCKERFILE_OK = "FROM lab:busybox\nUSER 1000\n"
ALLOW_ALL = '{ "defaultAction": "SCMP_ACT_ALLOW" }'


def _deep(folder: Path) -> None:
    """25 nested folders of 200 bytes: a 5 KB path, past the host's PATH_MAX, made one level at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(25):
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def hostile_class(subs: Path, secret: Path) -> dict[str, dict[str, tuple[float, str]]]:
    """Make the corpus under `subs`; return, per student, assignment -> (score, what its feedback must say).
    Each student hands in only the files of the attack: every other assignment is refused (file not found),
    which costs no container, so the whole class grades in one e2e run."""
    want: dict[str, dict[str, tuple[float, str]]] = {}

    def student(name: str, expect: dict[str, tuple[float, str]]) -> Path:
        folder = subs / name
        folder.mkdir(parents=True)
        want[name] = expect
        return folder

    # Hard links carry a host file in (the leak of issue 16): in the build context, as the Dockerfile, as a
    # profile, as run options. Refused before anything starts, and the content never shown.
    f = student("hardlink-context", {"nonroot": (0, "hardlink-context/image/leak: is a hard link (")})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nCOPY leak /leak\nRUN cat /leak; exit 1\n")
    _link(secret, f, "image/leak")
    f = student("hardlink-dockerfile", {"nonroot": (0, "hardlink-dockerfile/image/Dockerfile: is a hard link")})
    _link(secret, f, "image/Dockerfile")
    f = student("hardlink-profile", {"ex11-06": (0, "hardlink-profile/seccomp/chown.json: is a hard link")})
    _link(secret, f, "seccomp/chown.json")
    f = student("hardlink-options", {"caps": (0, "hardlink-options/run/caps.toml: is a hard link")})
    _link(secret, f, "run/caps.toml")
    # Symlinks: to a file, as a folder on the way, inside the build context.
    f = student("symlink-profile", {"ex11-06": (0, "symlink-profile/seccomp/chown.json: is a symlink")})
    (f / "seccomp").mkdir()
    (f / "seccomp" / "chown.json").symlink_to(secret)
    f = student("symlink-folder", {"act11-01": (0, "symlink-folder/seccomp/activity.json: seccomp is a symlink")})
    _write(subs.parent / "elsewhere", "activity.json", ALLOW_ALL)
    (f / "seccomp").symlink_to(subs.parent / "elsewhere")
    f = student("symlink-context", {"nonroot": (0, "symlink-context/image/passwd: is a symlink")})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nCOPY passwd /p\nUSER 1000\n")
    (f / "image" / "passwd").symlink_to("/etc/passwd")
    # Not regular, huge, binary, unparsable.
    f = student("fifo-profile", {"ex11-06": (0, "fifo-profile/seccomp/chown.json: is not a regular file")})
    (f / "seccomp").mkdir()
    os.mkfifo(f / "seccomp" / "chown.json")
    f = student("huge-profile", {"act11-01": (0, "huge-profile/seccomp/activity.json: 3221225472 bytes is more "
                                                "than the course allows (65536 bytes)")})  # fmt: skip
    with open(_write(f, "seccomp/activity.json", b""), "wb") as handle:
        handle.truncate(3 * 1024**3)  # sparse: 3 GB to the grader, nothing on disk
    f = student("huge-context", {"nonroot": (0, "huge-context/image: the build folder is larger than the course")})
    _write(f, "image/Dockerfile", DOCKERFILE_OK)
    with open(_write(f, "image/blob", b""), "wb") as handle:
        handle.truncate(3 * 1024**3)
    f = student("binary-profile", {"ex11-06": (0, "binary-profile/seccomp/chown.json: line 1: a binary file")})
    _write(f, "seccomp/chown.json", b"\x7fELF\x02\x01\x01\x00")
    f = student("invalid-options", {"pids": (0, "invalid-options/run/pids.toml:1: invalid TOML")})
    _write(f, "run/pids.toml", "pids_limit = 64 64\n")
    # Profiles that allow everything or block everything: graded (controls decide), earn nothing.
    f = student("allow-all", {"ex11-06": (0, "FAIL exit code: expected 1; observed 0")})
    _write(f, "seccomp/chown.json", ALLOW_ALL)
    f = student("block-everything", {"act11-01": (0, "CONTAINER DID NOT START")})
    _write(f, "seccomp/activity.json", '{ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [] }')
    # Forbidden run options.
    f = student("privileged", {"caps": (0, "privileged is not allowed in this assignment")})
    _write(f, "run/caps.toml", "privileged = true\n")
    f = student("cap-add-all", {"caps": (0, "cap_add ALL is not allowed here")})
    _write(f, "run/caps.toml", 'cap_drop = ["ALL"]\ncap_add = ["ALL"]\n')
    f = student("pid-host", {"pids": (0, "pid_mode is not allowed in this assignment")})
    _write(f, "run/pids.toml", 'pids_limit = 64\npid_mode = "host"\n')
    f = student("volume-root", {"caps": (0, "volumes is not allowed in this assignment")})
    _write(f, "run/caps.toml", 'cap_drop = ["ALL"]\ncap_add = ["SYS_TIME"]\nvolumes = ["/:/host"]\n')
    # Paths in run options: read from the submission only, never opened on the host (no MemoryError on
    # /dev/zero, and the same sentence whether the outside file exists or not).
    for name, ref in (("seccomp-dev-zero", "/dev/zero"), ("seccomp-shadow", "/etc/shadow"),
                      ("seccomp-missing", "/nonexistent/profile.json"), ("seccomp-other-student", "../allow-all/"
                      "seccomp/chown.json"), ("seccomp-secret", str(secret))):  # fmt: skip
        f = student(name, {"pids": (0, f"security_opt 'seccomp={ref}' is not allowed here")})
        _write(f, "run/pids.toml", f'pids_limit = 64\nsecurity_opt = ["seccomp={ref}"]\n')
    # Names and shapes the planner once crashed on: a sentence for that student, everyone else graded.
    f = student("non-utf8-name", {"nonroot": (0, "non-utf8-name/image/caf\\xe9: its name is not UTF-8")})
    _write(f, "image/Dockerfile", DOCKERFILE_OK)
    with open(os.fsencode(str(f / "image")) + b"/caf\xe9", "wb") as handle:
        handle.write(b"x")
    f = student("deep-path", {"nonroot": (0, "the path is longer than 1024 bytes")})
    _write(f, "image/Dockerfile", DOCKERFILE_OK)
    _deep(f / "image" / "deep")
    f = student("many-folders", {"nonroot": (0, "many-folders/image: the build folder holds more than 500 files")})
    _write(f, "image/Dockerfile", DOCKERFILE_OK)
    for n in range(600):
        (f / "image" / f"d{n}").mkdir()
    # Dockerfiles: climbing out, flooding the log, lying about the user.
    f = student("copy-outside", {"nonroot": (0, "COPY ../../secret.txt: '../../secret.txt' climbs out")})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nCOPY ../../secret.txt /s\nUSER 1000\n")
    f = student("flood-log", {"nonroot": (0, "[output cut: the course shows at most the last 600 bytes]")})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nRUN yes 0123456789abcdef | head -c 5000000; exit 1\n")
    f = student("fake-id", {"nonroot": (0, "THE ENGINE RUNS YOUR IMAGE AS ROOT: the image sets no USER")})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nRUN rm /bin/id && printf '#!/bin/sh\\nif [ -e /dev/shm/s ]; "
                                  "then echo 0; else : > /dev/shm/s; echo 1000; fi\\n' > /bin/id && chmod +x /bin/id\n")
    f = student("root-alias", {"nonroot": (0, "USER is 'app', which its /etc/passwd maps to uid 0")})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nRUN echo 'app:x:0:0:app:/:/bin/sh' >> /etc/passwd\nUSER app\n")
    # Instructions the engine would refuse at commit: a sentence, not a traceback.
    f = student("expose-notaport", {"nonroot": (0, "expose-notaport/image/Dockerfile: line 2: EXPOSE notaport: "
                                                   "expected a port number")})  # fmt: skip
    _write(f, "image/Dockerfile", "FROM lab:busybox\nEXPOSE notaport\nUSER 1000\n")
    refused = "YOUR IMAGE DID NOT BUILD: engine-refuses/image/Dockerfile: the engine refused the image: ENV must"
    f = student("engine-refuses", {"nonroot": (0, refused)})
    _write(f, "image/Dockerfile", "FROM lab:busybox\nUSER 1000\nENV A\n")
    # A student folder whose own name is not UTF-8: a note, not a crash (it cannot be graded by name).
    os.mkdir(os.fsencode(str(subs)) + b"/stud\xff")
    return want


def test_hostile_class_is_graded_and_leaks_nothing(tmp_path: Path, docker_client: Any) -> None:
    """Issue 16's done-when and issue 17's grading items: every hostile submission gets its score and a
    sentence naming its file; the reference and an ordinary student keep their scores; no byte of a host
    file hard-linked into a submission reaches any report; no container or image is left behind."""
    secret = tmp_path / "secret.txt"
    secret.write_text("\n".join(SECRET_LINES) + "\n")
    subs = tmp_path / "subs"
    for name in ("reference", "misses-fchownat"):
        shutil.copytree(COURSE / "submissions" / name, subs / name)
    want = hostile_class(subs, secret)
    assert len(want) >= 20
    run_id = "e2e-hostile-" + labels.new_run_id()[-6:]
    out = tmp_path / "out"
    started = time.monotonic()
    code, output = grade(subs, out, course=hostile_course(tmp_path, "build_log_bytes = 600\n"), run_id=run_id)
    elapsed = time.monotonic() - started
    assert code == 0, output
    got = scores(out)
    assert {aid: a["score"] for aid, a in got["reference"].items()} == FULL
    lost = EXPECTED["misses-fchownat"]
    ordinary = {aid: a["score"] for aid, a in got["misses-fchownat"].items()}
    assert ordinary == {aid: lost.get(aid, full) for aid, full in FULL.items()}
    assert sorted(got) == sorted([*want, "reference", "misses-fchownat"])
    assert "stud\\xff" in output and "not a usable student name" in output
    wrong = []
    for name, expect in want.items():
        for aid, (score, needle) in expect.items():
            messages = "\n".join(c.get("message", "") for c in got[name][aid]["checks"])
            if got[name][aid]["score"] != score or needle not in messages:
                wrong.append(f"{name} {aid}: {got[name][aid]['score']} (want {score}), {messages[:600]!r}")
        assert got[name]["nonroot"]["max"] == FULL["nonroot"], name  # refused is graded zero, not skipped
    assert not wrong, "\n".join(wrong)
    # the feedback shows at most build_log_bytes of a flooding build's output
    flood = got["flood-log"]["nonroot"]["checks"][0]["message"]
    assert len(flood) < 600 + 1000, len(flood)
    # the same sentence whether the outside profile exists or not: no file oracle
    texts = {got[n]["pids"]["checks"][0]["message"].replace(ref, "REF").replace(n, "NAME") for n, ref in (
        ("seccomp-dev-zero", "/dev/zero"), ("seccomp-shadow", "/etc/shadow"),
        ("seccomp-missing", "/nonexistent/profile.json"), ("seccomp-secret", str(secret)))}  # fmt: skip
    assert len(texts) == 1, texts
    # no byte of the hard-linked file anywhere in the reports (nor in what the command printed)
    for path in [p for p in out.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for line in SECRET_LINES:
            for piece in (line, line[:16], line[-16:], "HARDLAB-CANARY"):
                assert piece.encode() not in data, (path, piece)
    assert "canary" not in output.lower()
    assert left_by(docker_client, run_id) == ([], []), "containers or grading images left"
    print(f"hostile class: {len(want) + 2} students graded in {elapsed:.1f}s")


def test_a_build_heavier_than_image_bytes_is_stopped_and_removed(tmp_path: Path, docker_client: Any) -> None:
    """[limits] image_bytes: a RUN that writes 30 MB into a 10 MB allowance is refused before its layer is
    committed, the build's images so far are removed at once, the student reads why; the reference keeps
    its full score; no grading image is left."""
    subs = tmp_path / "subs"
    shutil.copytree(COURSE / "submissions" / "reference", subs / "reference")
    heavy = subs / "heavy"
    _write(heavy, "image/Dockerfile", "FROM lab:busybox\nRUN echo small > /small\n"
                                      "RUN head -c 30000000 /dev/zero > /big\nUSER 1000\n")  # fmt: skip
    out = tmp_path / "out"
    started = time.monotonic()
    run_id = "e2e-heavy-" + labels.new_run_id()[-6:]
    code, output = grade(subs, out, "--student", "heavy", course=hostile_course(tmp_path, "image_bytes = 10000000\n"),
                         run_id=run_id)  # fmt: skip
    assert code == 0, output
    got = scores(out, "feedback-heavy.json")["heavy"]["nonroot"]
    message = got["checks"][0]["message"]
    assert got["score"] == 0 and message.startswith("YOUR IMAGE DID NOT BUILD: heavy/image/Dockerfile: line 3: the "
                                                    "image would be "), message  # fmt: skip
    assert "more than the course allows (10.0 MB (10000000 bytes)); the build was stopped and its layers " \
           "removed" in message, message
    print(f"\nimage_bytes: the heavy build was refused in a {time.monotonic() - started:.1f}s grading run")
    code, output = grade(subs, tmp_path / "out2", "--student", "reference",
                         course=hostile_course(tmp_path, "image_bytes = 10000000\n"),
                         run_id=run_id + "-ref")  # fmt: skip
    assert code == 0, output
    ref = scores(tmp_path / "out2", "grades-reference.json")["reference"]
    assert {aid: a["score"] for aid, a in ref.items()} == FULL
    assert left_by(docker_client, run_id) == ([], [])  # both gradings' (the second's id starts with it too)
    heavy_layers = docker_client.images.list(all=True, filters={"label": "hardlab.case=build heavy/image/Dockerfile"})
    assert not [i for i in heavy_layers if i.labels.get(labels.RUN, "").startswith(run_id)]


def test_images_of_a_killed_grading_run_are_swept_by_the_next_run(tmp_path: Path, docker_client: Any) -> None:
    """A grading run SIGKILLed mid-build never reaches its end (which removes its images): the next run's
    start removes every image whose owning process is gone, and no other image."""
    import signal

    subs = tmp_path / "subs"
    _write(subs / "slow", "image/Dockerfile", "FROM lab:busybox\nRUN echo layer > /one\nRUN sleep 60\nUSER 1000\n")
    cmd = [sys.executable, "-m", "hardlab.cli", "grade", str(subs), "--course", str(hostile_course(tmp_path)),
           "--out", str(tmp_path / "out"), "-n", "1", "--student", "slow"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    mine = {"label": "hardlab.case=build slow/image/Dockerfile"}
    deadline = time.monotonic() + 120
    while not docker_client.images.list(all=True, filters=mine):  # the first RUN's layer is committed
        assert time.monotonic() < deadline and proc.poll() is None, "the build never committed a layer"
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = docker_client.images.list(all=True, filters=mine)
    assert left and all(not labels.owner_alive(i.labels[labels.OWNER]) for i in left)
    # Lab images carry no owner (a build's layers inherit their recipe label, and are swept)
    lab_images = {i.id for i in docker_client.images.list(filters={"label": "hardlab.recipe"})
                  if labels.OWNER not in i.labels}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(ROOT / "tests" / "e2e" /
                           "data" / "valid.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert docker_client.images.list(all=True, filters=mine) == []
    assert lab_images <= {i.id for i in docker_client.images.list(filters={"label": "hardlab.recipe"})}
    # its RUN container too
    for c in docker_client.containers.list(all=True, ignore_removed=True, filters={"label": labels.KEY}):
        assert labels.owner_alive(c.labels.get(labels.OWNER, "")), c.name
