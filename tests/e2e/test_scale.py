"""Several engines on this machine: three ephemeral engines (own roots, sockets, bridges; one also on
tcp+TLS on 127.0.0.1 with a CA made for this run) grade a generated class; the TLS engine runs the seccomp
pack and a host audit. HARDLAB_SCALE_STUDENTS sets the class size (default 24, so the file stays a few
minutes on a loaded 2-core machine; the README reports a 60-student run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRADERS = ROOT / "labs" / "course" / "graders"
# Run options a student hands in, and what each earns (only-sys-time 2 points, chown-refused 1 point).
VARIANTS = {
    "full": ('cap_drop = ["ALL"]\ncap_add = ["SYS_TIME"]\n', 3),
    "drop-only": ('cap_drop = ["ALL"]\n', 1),
    "defaults": ("init = true\n", 0),
    "privileged": ("privileged = true\n", 0),  # refused before anything runs
}


def students() -> int:
    return int(os.environ.get("HARDLAB_SCALE_STUDENTS", "24"))  # 60 was run by hand: README "Several engines"


def make_class(root: Path, count: int) -> tuple[Path, Path, dict[str, float]]:
    """A course of one cheap assignment (two container checks) and `count` submissions cycling the variants."""
    course = root / "course.toml"
    course.write_text(f"""schema_version = 1
[course]
id = "scale-class"
title = "A generated class for several engines"
[[assignment]]
id = "caps"
title = "Run options: drop every capability but SYS_TIME"
scenario = "{GRADERS}/run-options.toml"
inputs = {{ run_options = "run/caps.toml" }}
allow = {{ cap_add = ["SYS_TIME"] }}
[[assignment.check]]
case = "only-sys-time"
points = 2
hint = "cap_drop ALL, cap_add SYS_TIME"
[[assignment.check]]
case = "chown-refused"
points = 1
hint = "CHOWN is in Docker's default set"
""")
    subs = root / "submissions"
    expected: dict[str, float] = {}
    names = list(VARIANTS)
    for n in range(count):
        variant = names[n % len(names)]
        name = f"st{n:03}-{variant}"
        (subs / name / "run").mkdir(parents=True)
        (subs / name / "run" / "caps.toml").write_text(VARIANTS[variant][0])
        expected[name] = VARIANTS[variant][1]
    return course, subs, expected


@pytest.fixture(scope="module")
def engines() -> Iterator[list[Any]]:
    """Three ephemeral engines; the last also listens on tcp+TLS on 127.0.0.1. Stopped however the tests end."""
    from hardlab.engine import dockerd

    if os.geteuid() != 0:
        pytest.skip("starting ephemeral engines needs root")
    with ExitStack() as stack:
        found = [stack.enter_context(dockerd.running(f"scale-{n}", tls=(n == 2))) for n in range(3)]
        yield found


def hardlab(*args: str, env: dict[str, str] | None = None, timeout: int = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardlab.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})  # fmt: skip


def tls_env(engine: Any) -> dict[str, str]:
    return {"DOCKER_HOST": engine.tcp_url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(engine.client_certs)}


def test_tls_engine_runs_the_seccomp_pack_and_an_audit(engines: list[Any], tmp_path: Path) -> None:
    tls = engines[2]
    assert tls.tcp_url.startswith("tcp://127.0.0.1:")
    reports = tmp_path / "reports"
    done = hardlab("run", "scenarios/seccomp", "-p", "no:cacheprovider", "-q",
                   env={**tls_env(tls), "HARDLAB_REPORTS": str(reports)})  # fmt: skip
    summary = json.loads((reports / "summary.json").read_text())
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    results = summary["results"]
    assert results and not [r["nodeid"] for r in results if r["outcome"] == "error"], done.stdout[-3000:]
    assert sum(r["outcome"] == "passed" for r in results) >= len(results) // 2
    out = tmp_path / "audit"
    audit = hardlab("audit", "--host", f"tls={tls.tcp_url}", "--out", str(out), "-q", env=tls_env(tls))
    assert audit.returncode in (0, 1), audit.stdout[-3000:] + audit.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    rows = data["results"] if isinstance(data, dict) else data
    reach = [r for r in rows if r["check"] == "engine.reachable"]
    assert not reach or reach[0]["status"] == "passed"
    assert {r["host"] for r in rows} == {"tls"} and len(rows) > 20
    # A client without the run's CA and certificate is turned away: TLS is really on.
    plain = hardlab("audit", "--host", tls.tcp_url, "--out", str(tmp_path / "plain"), "--config-only", "-q",
                    env={"DOCKER_TLS_VERIFY": ""})  # fmt: skip
    assert plain.returncode == 2


def test_a_class_spread_over_three_engines_grades_like_one(engines: list[Any], tmp_path: Path) -> None:
    from hardlab.engine import dockerd

    count = students()
    course, subs, expected = make_class(tmp_path, count)
    one = tmp_path / "one"
    started = time.monotonic()
    single = hardlab("grade", str(subs), "--course", str(course), "--out", str(one), "-n", "2", "-q",
                     env={"DOCKER_HOST": engines[0].url})  # fmt: skip
    single_s = time.monotonic() - started
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-3000:]
    graded = json.loads((one / "grades.json").read_text())
    assert {s["student"]: s["score"] for s in graded["students"]} == expected

    many = tmp_path / "many"
    a, b, c = engines
    cmd = [sys.executable, "-m", "hardlab.cli", "grade", str(subs), "--course", str(course), "--out", str(many),
           "-q", "--engine", f"a={a.url}", "--engine", f"b={b.url}",
           "--engine", f"tls={c.tcp_url},certs={c.client_certs}"]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    starts: list[str] = []
    stopped = threading.Event()

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            # b has graded its first students and has just taken the next ones: stop it under them
            if line.startswith("hardlab grade: engine b: grading"):
                starts.append(line)
            if not stopped.is_set() and len(starts) == 2:
                stopped.set()
                threading.Thread(target=dockerd.stop, args=(b,), kwargs={"grace": 5}, daemon=True).start()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    # Not communicate(): it would read stderr too, racing the watcher for the lines it waits for.
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=1800)
    reader.join(timeout=30)
    spread_s = time.monotonic() - started
    text = out + "".join(err)
    assert proc.returncode == 0, text[-4000:]
    assert stopped.is_set(), text[-4000:]
    # every score identical to the one-engine run, byte for byte
    assert (many / "grades.json").read_text() == (one / "grades.json").read_text()
    report = json.loads((many / "engines.json").read_text())
    shares = {e["name"]: e for e in report["engines"]}
    graded_by = [s for e in report["engines"] for s in e["students"]]
    assert sorted(graded_by) == sorted(expected)  # nobody twice, nobody lost
    assert all(shares[n]["students"] for n in ("a", "b", "tls")), shares  # each engine did a share
    assert shares["b"]["status"] == "lost" and shares["a"]["status"] == shares["tls"]["status"] == "ok"
    assert report["regraded"] and report["ungraded"] == []
    for note in report["regraded"]:
        assert note["lost_on"] == "b" and note["graded_on"] in {"a", "tls"}
        assert note["student"] in shares[note["graded_on"]]["students"]
        assert f"regraded: {note['student']}: engine b" in text
    feedback = json.loads((many / "feedback.json").read_text())
    by_student = {s["student"]: s["engine"] for s in feedback["students"]}
    assert all(by_student[s] == name for name, e in shares.items() for s in e["students"])
    print(f"\n{count} students: one engine {single_s:.1f}s; three engines {spread_s:.1f}s; "
          + ", ".join(f"{n} {len(e['students'])} students busy {e['busy_s']}s ({e['status']})"
                      for n, e in shares.items())
          + f"; regraded {len(report['regraded'])}")  # fmt: skip


def test_run_binds_each_worker_to_one_engine(engines: list[Any], tmp_path: Path) -> None:
    a, _, tls = engines
    reports = tmp_path / "reports"
    done = hardlab("run", "scenarios/seccomp/custom-profiles.toml", "-p", "no:cacheprovider", "-q",
                   "--engine", f"a={a.url}", "--engine", f"tls={tls.tcp_url},certs={tls.client_certs}",
                   env={"HARDLAB_REPORTS": str(reports), "DOCKER_HOST": "unix:///nonexistent/no.sock"})  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((reports / "summary.json").read_text())
    ran = {r["nodeid"]: r.get("engine") for r in summary["results"]}
    assert set(ran.values()) == {"a", "tls"}, ran  # two workers, one per engine, each did cases
    # each engine's facts were probed on that engine (its own API answered), not on DOCKER_HOST's
    assert set(summary["engines"]) == {"a", "tls"}
    assert summary["engines"]["tls"]["url"] == tls.tcp_url and summary["engines"]["tls"]["engine"]["server_version"]
    for client in (a.client(), tls.tls_client()):
        run_label = f"hardlab.run={summary['run_id']}"
        assert not client.containers.list(all=True, ignore_removed=True, filters={"label": run_label})


def test_audit_visits_hosts_in_parallel_with_the_same_results(engines: list[Any], tmp_path: Path) -> None:
    a, _, tls = engines
    hosts = ["--host", f"a={a.url}", "--host", f"tls={tls.tcp_url}"]
    verdicts = []
    for parallel in ("1", "2"):
        out = tmp_path / f"p{parallel}"
        done = hardlab("audit", *hosts, "--config-only", "--parallel", parallel, "--out", str(out), "-q",
                       env=tls_env(tls))  # fmt: skip
        assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
        rows = json.loads((out / "results.json").read_text())["results"]
        verdicts.append({(r["host"], r["check"]): r["status"] for r in rows})
    assert verdicts[0] == verdicts[1]
    assert {host for host, _ in verdicts[0]} == {"a", "tls"}
