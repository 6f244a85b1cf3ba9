"""Runtime faults: an unexpected exception, a stopped or wedged engine, floods, hangs, hostile regexes.
Each ends with the right classification, within its bounds, with nothing left on the engine."""

from __future__ import annotations

import pytest

from .conftest import DATA, leftovers

pytestmark = pytest.mark.e2e
FAULTS = DATA / "faults"
# The plugin makes docker-py raise where no real input reaches any more (the spec rejects bad options).
UNEXPECTED = ("-p", "raise_in_create", str(FAULTS / "unexpected.toml"))
PLUGIN_PATH = {"PYTHONPATH": str(FAULTS)}


@pytest.mark.parametrize("prefetch", ["4", "0"])
def test_unexpected_exception_is_that_cases_harness_error(run_hardlab, docker_client, prefetch: str) -> None:
    out = run_hardlab(*UNEXPECTED, env={"HARDLAB_PREFETCH": prefetch, **PLUGIN_PATH})
    assert "INTERNALERROR" not in out.output and "Traceback" not in out.output, out.output
    bad = out.result("docker-py-value-error")
    assert bad["outcome"] == "error" and bad["classification"] == "harness-error", bad
    assert bad["message"] == (
        "HARNESS ERROR (not a security finding): unexpected ValueError while running this case: "
        "raised by the test plugin inside docker-py's containers.create"
    )
    assert "case: " + str(FAULTS / "unexpected.toml") + ":7" in out.output
    assert out.result("still-runs")["outcome"] == "passed"
    assert out.code == 1
    assert leftovers(docker_client, out.run_id) == []


def test_kill_everything_profile_ends_in_time_and_leaves_nothing(run_hardlab, docker_client) -> None:
    """runc 1.1 hangs forever starting it: the start is given up after START_TIMEOUT, its runtime killed."""
    import time

    from hardlab.engine.lifecycle import START_TIMEOUT

    began = time.monotonic()
    out = run_hardlab(str(FAULTS / "kill-all.toml"))
    took = time.monotonic() - began
    assert took < START_TIMEOUT + 40, took
    rec = out.result("kill-everything")
    assert rec["outcome"] == "failed" and rec["classification"] == "container-did-not-start", rec
    # Either the engine refuses the start at once, or it hangs and is given up with this sentence.
    assert "CONTAINER DID NOT START" in rec["message"]
    assert out.result("after-it")["outcome"] == "passed"
    assert leftovers(docker_client, out.run_id) == []
    again = run_hardlab(*UNEXPECTED, env=PLUGIN_PATH)  # a later run's sweep is not blocked
    assert again.result("still-runs")["outcome"] == "passed"


def test_engine_stopped_mid_run_is_one_engine_down_error_and_a_fast_stop(tmp_path) -> None:
    """An engine of its own, killed while its first cases run."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from hardlab.engine import dockerd, images

    from .conftest import ROOT

    report = tmp_path / "summary.json"
    with dockerd.running("faults-down") as engine:
        client = engine.client()
        images.ensure(client, "lab:busybox")
        env = {**os.environ, "DOCKER_HOST": engine.url, "HARDLAB_RUN_ID": "e2e-down"}
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--hardlab-report={report}",
               str(FAULTS / "engine-down.toml")]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not client.containers.list(ignore_removed=True, filters={"label": "hardlab.run=e2e-down"}):
            assert time.monotonic() < deadline and proc.poll() is None, "no case started"
            time.sleep(0.2)
        time.sleep(1)
        os.kill(engine.pid or int(engine.pidfile.read_text()), signal.SIGKILL)
        killed = time.monotonic()
        output, _ = proc.communicate(timeout=120)
        took = time.monotonic() - killed
    print(f"\nengine down: the run ended {took:.1f} s after the engine was killed")  # a figure for the report
    assert took < 30, (took, output)
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    results = json.loads(report.read_text())["results"]
    errors = [r for r in results if r["outcome"] == "error"]
    assert errors and all(r["classification"] == "harness-error" for r in errors), results
    down = [r for r in errors if r["message"].startswith("HARNESS ERROR (not a security finding): engine down:")]
    assert len(down) == 1, [r["message"] for r in errors]
    assert all("not run: the engine stopped answering during this run" in r["message"] for r in errors if r not in down)
    assert not [r for r in results if r["outcome"] == "failed"]  # never reported as a finding


def test_flood_exit_at_once_and_sigterm_ignoring_forks_each_end_with_a_verdict(run_hardlab, docker_client) -> None:
    import time

    began = time.monotonic()
    out = run_hardlab(str(FAULTS / "flood.toml"))
    took = time.monotonic() - began
    peak_mb = out.peak_rss_kb / 1024  # the run's pytest process and its children
    print(f"\nflood pack: {took:.1f} s, peak RSS of the run {peak_mb:.0f} MB")  # figures for the report
    assert took < 60 and 0 < peak_mb < 200, (took, peak_mb)  # 200 MB of output kept would be 200 MB+ alone
    flood = out.result("floods-200mb")
    assert flood["outcome"] == "failed" and flood["classification"] == "control-failed"
    assert "note: output cut: stdout: kept the first 1048576 of 200000000 bytes" in out.output
    gone = out.result("exits-at-once")
    assert gone["outcome"] == "failed"
    assert "note: the step could not run: the container's main process had already exited" in out.output
    term = out.result("ignores-sigterm-and-forks")
    assert term["outcome"] == "failed" and term["duration"] < 20
    assert "FAIL finished in time: expected within 3s; observed still running after" in out.output
    assert leftovers(docker_client, out.run_id) == []


def test_backtracking_regex_is_cut_off_with_a_sentence(run_hardlab, docker_client) -> None:
    import time

    began = time.monotonic()
    out = run_hardlab(str(FAULTS / "regex.toml"))
    assert time.monotonic() - began < 60
    rec = out.result("nested-quantifier")
    assert rec["outcome"] == "failed" and rec["classification"] == "harness-error", rec
    assert rec["message"].startswith("INPUT ERROR: step "), rec["message"]
    assert "(line 12): stdout_matches: the pattern /^(a|a)*$/ took over 2 s on 3002 characters" in rec["message"]
    assert out.result("issue-pattern")["outcome"] in ("failed", "error")  # no match (or cut off): never a hang
    assert leftovers(docker_client, out.run_id) == []


def test_collection_errors_count_stale_reports_are_marked_temp_files_go(run_hardlab, tmp_path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from hardlab import config

    from .conftest import ROOT

    stale = config.temp_dir() / "hardlab-host-e2e-stale-run.json"
    stale.write_text("{}")
    os.utime(stale, (time.time() - 3 * 86400,) * 2)
    # A collection error (a test module that does not import) is in the summary and the totals.
    broken = tmp_path / "test_broken.py"
    broken.write_text("raise RuntimeError('a module that does not import')\n")
    out = run_hardlab(str(broken), str(FAULTS / "unexpected.toml"), "-k", "still", "--continue-on-collection-errors")
    assert out.summary["status"] == "complete"
    errors = [r for r in out.summary["results"] if r.get("collection_error")]
    assert errors and errors[0]["classification"] == "harness-error", out.summary
    assert out.summary["totals"]["error"] >= 1, out.summary["totals"]
    assert not stale.exists()  # a killed run's probe file is swept
    assert not (config.temp_dir() / f"hardlab-host-{out.run_id}.json").exists()
    assert not (config.temp_dir() / f"hardlab-host-{out.run_id}.lock").exists()

    # SIGKILL mid-run: the previous run's report is not left looking like this run's results.
    report = tmp_path / "killed.json"
    report.write_text(json.dumps({"run_id": "previous", "totals": {"passed": 9}, "results": []}))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--hardlab-report={report}",
           str(DATA / "hang.toml")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while json.loads(report.read_text() or "{}").get("run_id") == "previous":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = json.loads(report.read_text())
    assert left["status"] == "running" and "killed" in left["note"] and left["results"] == []


def test_audit_never_echoes_an_engines_control_characters(tmp_path) -> None:
    """A fake engine on a unix socket answers with terminal control codes in every string it gives."""
    import json
    import socketserver
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler

    from .conftest import ROOT

    evil = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"
    answers = {
        "/_ping": "OK",
        "version": {"Version": f"20.10.24{evil}", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
                    "Os": "linux", "Arch": "amd64", "KernelVersion": f"6.1{evil}", "Components": []},
        "info": {"ServerVersion": f"20.10.24{evil}", "SecurityOptions": [f"name=seccomp{evil}"], "Name": evil,
                 "Driver": evil, "CgroupVersion": "2", "KernelVersion": f"6.1{evil}", "OperatingSystem": evil},
    }  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server calls it by this name
            key = next((k for k in answers if self.path.split("?")[0].endswith(k)), None)
            body = answers.get(key, {"message": f"no such thing{evil}"}) if key else {"message": evil}
            raw = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(200 if key else 404)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            return

        def address_string(self) -> str:
            return "fake"

    sock = tmp_path / "fake.sock"
    server = socketserver.ThreadingUnixStreamServer(str(sock), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "audit"
        cmd = [sys.executable, "-m", "hardlab.cli", "audit", "--out", str(out), "--config-only", "--timeout", "10",
               "--host", f"fake=unix://{sock}"]  # fmt: skip
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    printed = (done.stdout + done.stderr).decode("utf-8", "replace")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files, printed
    for text in [printed, *(p.read_text(encoding="utf-8", errors="replace") for p in files)]:
        assert not any(c in text for c in ("\x1b", "\x07", "\x9b", "\u202e")), text[:2000]
    assert "\\x1b" in (out / "summary.txt").read_text() or "\\x1b" in (out / "results.json").read_text()


def test_a_worker_killed_mid_case_is_that_cases_harness_error(tmp_path, docker_client) -> None:
    """An xdist worker SIGKILLed while its case runs: that case is a harness error naming the dead worker,
    every other case keeps its result (the killed worker's queue goes to a new worker), nothing is left."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    pids, report, run_id = tmp_path / "pids", tmp_path / "summary.json", "e2e-workerkill"
    pids.mkdir()
    env = {**os.environ, "HARDLAB_RUN_ID": run_id, "HARDLAB_TEST_PIDS": str(pids),
           "PYTHONPATH": os.pathsep.join([str(FAULTS), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "mark_worker", "-n", "2",
           f"--hardlab-report={report}", str(FAULTS / "worker-killed.toml")]  # fmt: skip
    began = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marker = pids / "killed-mid-case.pid"
    label = {"label": [f"hardlab.run={run_id}", "hardlab.case"]}
    while not (marker.is_file() and any("killed-mid-case" in c.labels.get("hardlab.case", "")
                                        for c in docker_client.containers.list(ignore_removed=True,
                                                                               filters=label))):  # fmt: skip
        assert time.monotonic() - began < 90 and proc.poll() is None, "the slow case never started"
        time.sleep(0.2)
    time.sleep(1)  # its step is sleeping now
    os.kill(int(marker.read_text()), signal.SIGKILL)
    killed = time.monotonic()
    output, _ = proc.communicate(timeout=180)
    took = time.monotonic() - killed
    print(f"\nworker killed: the run ended {took:.1f} s after the SIGKILL, {killed - began:.1f} s into it")
    assert "INTERNALERROR" not in output, output
    results = {r["nodeid"].rpartition("::")[2]: r for r in json.loads(report.read_text())["results"]}
    dead = results["killed-mid-case"]
    assert dead["outcome"] == "error" and dead["classification"] == "harness-error", dead
    assert dead["message"].startswith("HARNESS ERROR (not a security finding): the pytest worker running this "
                                      "case died (worker 'gw"), dead["message"]  # fmt: skip
    assert "crashed while running" in dead["message"]
    assert [results[f"ok-{n}"]["outcome"] for n in range(1, 7)] == ["passed"] * 6, results
    assert took < 40, took  # not the 40 s sleep of the dead case, nor the step's 60 s timeout
    assert proc.returncode == 1, output[-2000:]
    assert leftovers(docker_client, run_id) == []
