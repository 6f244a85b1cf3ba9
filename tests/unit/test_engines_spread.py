"""Several engines: parsing --engine values and engines files, the student queue, and the engine in reports."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from hardlab.engine import endpoints
from hardlab.errors import BadInput, ProblemsError
from hardlab.grading import points
from hardlab.grading.spread import Dispatch


def certs(tmp_path: Path) -> Path:
    folder = tmp_path / "tls"
    folder.mkdir()
    for name in endpoints.CERT_FILES:
        (folder / name).write_text("x")
    return folder


def test_engine_values_parse_with_names_and_tls(tmp_path: Path) -> None:
    folder = certs(tmp_path)
    plain = endpoints.parse("unix:///run/a.sock", env={})
    assert (plain.name, plain.url, plain.tls) == ("unix:///run/a.sock", "unix:///run/a.sock", False)
    named = endpoints.parse(f"b=tcp://127.0.0.1:2376,certs={folder}", env={})
    assert (named.name, named.url, named.certs) == ("b", "tcp://127.0.0.1:2376", str(folder.resolve()))
    env = named.environment({"DOCKER_HOST": "unix:///other", "DOCKER_CONTEXT": "x", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY": "1",
                   "DOCKER_CERT_PATH": str(folder.resolve())}  # fmt: skip
    assert "DOCKER_TLS_VERIFY" not in plain.environment({"DOCKER_TLS_VERIFY": "1"})
    # DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as the docker CLI reads them, for a tcp:// engine without certs=
    from_env = endpoints.parse("tcp://127.0.0.1:2376", env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(folder)})
    assert from_env.tls
    assert endpoints.parse("ssh://ops@builder", env={}).url == "ssh://ops@builder"


@pytest.mark.parametrize(("value", "words"), [
    ("http://x", "unsupported address"),
    ("=unix:///a", "empty engine name"),
    ("unix://", "after the scheme is empty"),
    ("unix:///a,certs=/tmp", "applies to a tcp:// engine only"),
    ("tcp://127.0.0.1:1,tls=yes", "unknown option"),
    ("tcp://127.0.0.1:1,certs=/no/such/folder", "no such folder"),
])  # fmt: skip
def test_bad_engine_values_say_why(value: str, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        endpoints.parse(value, env={})


def test_a_cert_folder_lacking_a_file_is_named(tmp_path: Path) -> None:
    folder = certs(tmp_path)
    (folder / "key.pem").unlink()
    with pytest.raises(BadInput, match=r"certs: .*lacks key.pem"):
        endpoints.parse(f"tcp://127.0.0.1:1,certs={folder}", env={})


def test_engines_file_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "engines.txt"
    path.write_text("# the lab hosts\na=unix:///run/a.sock\n\nb=ftp://x   # typo\na=unix:///run/c.sock\nunix:///run/a.sock\n")
    with pytest.raises(ProblemsError) as caught:
        endpoints.read_file(path, env={})
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}:4: url: 'ftp://x': unsupported address")
    assert lines[1] == f"{path}:5: name: engine 'a' is listed twice (first on line 2)"
    assert lines[2] == f"{path}:6: url: unix:///run/a.sock is listed twice (first on line 2)"
    path.write_text("# nothing\n")
    with pytest.raises(ProblemsError, match="lists no engine"):
        endpoints.read_file(path, env={})
    with pytest.raises(ProblemsError, match="cannot read the engines file"):
        endpoints.read_file(tmp_path / "missing.txt", env={})
    path.write_text("a=unix:///run/a.sock\nb=unix:///run/b.sock\n")
    assert [e.name for e in endpoints.gather(["c=unix:///run/c.sock"], [str(path)], env={})] == ["c", "a", "b"]
    with pytest.raises(BadInput, match="given twice"):
        endpoints.gather(["a=unix:///run/z.sock"], [str(path)], env={})


def test_dispatch_shares_guided_and_requeues_a_lost_batch() -> None:
    students = [f"s{n:02}" for n in range(20)]
    queue = Dispatch(students, workers=2, max_batch=4)
    first = queue.take("a#0")
    assert first == students[:4]  # 20 / (2 x 2) = 5, capped at 4
    second = queue.take("b#0")
    assert second == students[4:8]
    back = queue.lost("b#0", "b", "stopped answering")
    queue.retire()
    assert back == second and queue.left()[:4] == second  # to the front, in order
    queue.finished("a#0", "a")
    taken = []
    while batch := queue.take("a#0"):
        taken += batch
        queue.finished("a#0", "a")
    assert sorted(first + taken) == students  # each student once, none lost
    assert queue.done == {s: "a" for s in students}
    assert [(r.student, r.lost_on, r.graded_on) for r in queue.regrades] == [(s, "b", "a") for s in second]


def test_dispatch_waits_for_batches_in_flight() -> None:
    queue = Dispatch(["x", "y"], workers=2, max_batch=8)
    assert queue.take("a#0") == ["x"]
    assert queue.take("b#0") == ["y"]
    got: list[list[str]] = []
    waiter = threading.Thread(target=lambda: got.append(queue.take("a#1")))
    waiter.start()  # nothing queued, but b's batch may come back: a#1 waits
    queue.lost("b#0", "b", "gone")
    waiter.join(timeout=10)
    assert got == [["y"]]
    queue.finished("a#0", "a")
    queue.finished("a#1", "a")
    assert queue.take("a#0") == []


def test_the_engine_is_in_the_feedback_not_in_the_scores() -> None:
    rec = {"student": "s1", "assignment": "caps", "case": "c", "points": 2, "outcome": "passed", "engine": "e2"}
    data = points.grades([rec], {"id": "x", "title": "t"})
    assert data["students"][0]["engine"] == "e2"
    assert "engine" not in json.loads(points.to_json(data))["students"][0]
    assert json.loads(points.to_json(data, feedback=True))["students"][0]["engine"] == "e2"
    assert '<property name="hardlab.engine" value="e2" />' in points.junit(data["students"][0])
    assert "graded on engine e2" in points.student_report(data["students"][0], {"title": "t"})
    assert "<th>engine</th>" in points.summary_html(data)
    plain = points.grades([{k: v for k, v in rec.items() if k != "engine"}], {"id": "x", "title": "t"})
    assert "engine" not in plain["students"][0] and "<th>engine</th>" not in points.summary_html(plain)


def test_grade_refuses_bad_engines_with_a_sentence(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    bad = tmp_path / "engines.txt"
    bad.write_text("a=unix:///x\nb=tcp://127.0.0.1:1,certs=/no/such/dir\n")

    def grade(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "hardlab.cli", "grade", str(root / "labs/course/submissions"),
               "--course", str(root / "labs/course/course.toml"), "--out", str(tmp_path / "out"), *args]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=root)

    done = grade("--engines-file", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{bad}:2: certs: /no/such/dir: no such folder" in done.stderr
    gone = tmp_path / "nobody.sock"
    done = grade("--engine", f"a=unix://{gone}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"engine a (unix://{gone}) does not answer" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing graded, no reports


def test_run_refuses_a_bad_engine_before_pytest(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "hardlab.cli", "run", "scenarios/seccomp", "--engine", f"x=unix://{tmp_path}/none.sock",
           "--engine", "tcp://127.0.0.1:1,certs=/no/such/dir"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "certs: /no/such/dir: no such folder" in done.stderr
    done = subprocess.run(cmd[:-2], capture_output=True, text=True, timeout=120, cwd=root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"engine x: unix://{tmp_path}/none.sock does not answer" in done.stderr


def test_each_engine_has_its_own_host_probe_file() -> None:
    from hardlab.pytest.recorder import Summary
    from hardlab.pytest.state import RunState, host_cache_path

    state = RunState("r1", "o", Summary("r1"))
    assert state.host_cache == host_cache_path("r1")
    state.engines = tuple(endpoints.parse(f"e{n}=unix:///run/e{n}.sock", env={}) for n in range(3))
    state.engine = "e2"
    assert state.host_cache.name == "hardlab-host-r1-e2.json"
    assert [p.name for p in state.engine_caches()] == [f"hardlab-host-r1-e{n}.json" for n in range(3)]


def test_audit_visits_at_most_parallel_hosts_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from hardlab.audit import run as audit_run
    from hardlab.audit.model import Result

    live: list[int] = [0, 0]  # now, most
    lock = threading.Lock()

    def fake_host(target, profile, strict, run_id, owner, args, pack):  # type: ignore[no-untyped-def]
        with lock:
            live[0] += 1
            live[1] = max(live)
        time.sleep(0.2)
        with lock:
            live[0] -= 1
        return [Result(target.label, "daemon.x", "2.1", "x", "daemon", "passed", "ok", ["fine"], "")], [], {}

    monkeypatch.setattr(audit_run, "audit_host", fake_host)
    hosts = [f"h{n}=unix:///run/h{n}.sock" for n in range(5)]
    done = audit_run.audit(audit_run.Options(host=hosts, out=str(tmp_path), config_only=True, parallel=2))
    assert live[1] == 2  # bounded, and really parallel
    assert [r.host for r in done.results] == [f"h{n}" for n in range(5)]  # per-host results, in --host order
    assert done.meta["parallel"] == 2
    with pytest.raises(BadInput, match="--parallel must be at least 1"):
        audit_run.audit(audit_run.Options(host=hosts, out=str(tmp_path), config_only=True, parallel=0))


def test_a_batch_watch_gives_up_on_an_engine_that_stops_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from hardlab.grading import spread

    class Proc:
        def __init__(self, ends_after: int) -> None:
            self.left = ends_after

        def wait(self, timeout: float) -> int:
            self.left -= 1
            if self.left < 0:
                return 0
            raise subprocess.TimeoutExpired("pytest", timeout)

    class Api:
        base_url = "http+docker://x"

        def __init__(self, answers: list[bool]) -> None:
            self.answers = answers

        def get(self, url: str, timeout: float) -> object:
            ok = self.answers.pop(0) if self.answers else False
            if not ok:
                raise ConnectionRefusedError(url)
            return type("R", (), {"ok": True})()

    class Client:
        def __init__(self, answers: list[bool]) -> None:
            self.api = Api(answers)

    monkeypatch.setattr(spread, "PING_EVERY_S", 0.0)
    monkeypatch.setattr(spread, "POLL_S", 0.0)
    # answers, misses one ping, answers again: the batch ends, with one miss counted (the batch is not trusted)
    assert spread.watch(Proc(3), Client([True, False, True]), lambda: False) == 1
    assert spread.watch(Proc(2), Client([True, True]), lambda: False) == 0
    with pytest.raises(spread.EngineLost, match="no answer to 3 pings in a row"):
        spread.watch(Proc(99), Client([True]), lambda: False)
    with pytest.raises(spread.EngineLost, match="another worker"):
        spread.watch(Proc(99), Client([True] * 10), lambda: True)
