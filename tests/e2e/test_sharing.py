"""Shared containers on the real engine: no state leaks between cases, a timeout never poisons the next case,
a container that dies under a run is replaced."""

from __future__ import annotations

import os

import pytest

from hardlab import spec
from hardlab.core.inputs import bind
from hardlab.engine import labels, lifecycle, runner
from hardlab.engine.client import sweep_run

from .conftest import DATA, leftovers

pytestmark = pytest.mark.e2e


def containers_of(out, prefix: str) -> dict[str, set[str]]:
    """case id -> the containers its steps ran in (from the evidence)."""
    found = {}
    for rec in out.summary["results"]:
        case = rec["nodeid"].split("::")[1]
        if case.startswith(prefix):
            found[case] = {row["container"] for row in rec["evidence"]}
    return found


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["single", "xdist"])
def test_a_case_that_writes_is_never_seen_by_another(run_hardlab, docker_client, workers) -> None:
    out = run_hardlab(str(DATA / "sharing.toml"), *workers)
    assert out.code == 0, out.output
    assert out.summary["totals"]["passed"] == 10, out.summary["totals"]
    writers, probes = containers_of(out, "writes-"), containers_of(out, "probes-")
    assert all(len(c) == 1 and "" not in c for c in writers.values()), writers
    mine = [next(iter(c)) for c in writers.values()]
    assert len(set(mine)) == len(mine), "two writers shared a container"
    shared = set().union(*probes.values())
    assert not shared & set(mine), "a probe ran in a writer's container"
    assert len(shared) <= (2 if workers else 1), f"the read-only probes did not share: {probes}"
    assert leftovers(docker_client, out.run_id) == []


def test_a_timed_out_probe_does_not_poison_the_next_case(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "shared-timeout.toml"), env={"HARDLAB_PREFETCH": "1"})  # one case at a time
    assert out.code == 1, out.output
    timed_out = out.result("a-times-out")
    assert timed_out["outcome"] == "failed"
    assert [c["what"] for c in timed_out["evidence"][0]["checks"]] == ["finished in time"]
    after = containers_of(out, "b-after-")
    assert [out.result(c)["outcome"] for c in sorted(after)] == ["passed"] * 3, out.output
    killed = timed_out["evidence"][0]["container"]
    used = set().union(*after.values())
    assert killed not in used, "the container of a timed-out step was reused"
    assert len(used) == 1  # its replacement is shared by the cases after it
    assert leftovers(docker_client, out.run_id) == []


def test_timeouts_with_cases_in_flight_change_no_other_verdict(run_hardlab, docker_client) -> None:
    out = run_hardlab(str(DATA / "shared-timeout.toml"), env={"HARDLAB_PREFETCH": "4"})
    assert out.code == 1, out.output
    outcomes = {r["nodeid"].split("::")[1]: r["outcome"] for r in out.summary["results"]}
    assert outcomes == {"a-times-out": "failed", "b-after-1": "passed", "b-after-2": "passed", "b-after-3": "passed"}
    assert leftovers(docker_client, out.run_id) == []


def test_a_shared_container_that_died_is_replaced_and_the_run_repeated(docker_client) -> None:
    scenario = spec.load(DATA / "shared-timeout.toml")
    case = next(c for c in scenario.cases if c.id == "b-after-1")
    run_id, owner = "e2e-died-" + labels.new_run_id()[-6:], labels.owner()
    containers = lifecycle.session_containers()
    try:
        first = runner.prepare(docker_client, case, scenario.path.parent, run_id, owner, bind(scenario, {}))
        second = runner.prepare(docker_client, case, scenario.path.parent, run_id, owner, bind(scenario, {}))
        assert first.main.key == second.main.key and first.main.spec.shareable
        containers.expect(first.main.key)
        containers.expect(second.main.key)
        before = runner.execute(docker_client, first, containers)
        assert before.main.ok, before
        docker_client.containers.get(before.main.container_id).kill()  # dies under the next run
        after = runner.execute(docker_client, second, containers)
        assert after.main.ok, [s.observed for s in after.main.steps]
        assert after.main.container_id != before.main.container_id
    finally:
        containers.close()
        lifecycle.drain()
        sweep_run(docker_client, run_id)
    assert leftovers(docker_client, run_id) == []


def test_engine_calls_from_worker_threads_never_iterate_the_environment(docker_client, monkeypatch) -> None:
    """requests iterates os.environ for proxies on every call unless told not to: from a prefetch thread that
    raced pytest setting PYTEST_CURRENT_TEST (KeyError, a harness error on a random case). The client reads
    the proxy variables once when it connects."""
    from hardlab.engine.client import connect

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = connect()
    assert client.api.trust_env is False
    assert client.api.proxies == {} or "https" in client.api.proxies  # read once, at connect
    environ = dict(os.environ)
    iterated = []

    class Watch(dict):
        def items(self):  # what urllib's getproxies_environment calls
            iterated.append(1)
            return super().items()

    monkeypatch.setattr("os.environ", Watch(environ))
    client.ping()
    assert iterated == []


def test_batched_probes_answer_as_probes_run_one_exec_each(run_hardlab, docker_client) -> None:
    """The same shared probes with HARDLAB_BATCH=0 and 1: identical verdicts and per-probe evidence (exit
    code, output), a probe whose process the profile kills included; the batched run makes fewer execs."""
    import re
    import threading
    import uuid

    def run(batch: str) -> tuple[object, int]:
        run_id = f"e2e-batch{batch}-" + uuid.uuid4().hex[:6]
        stream = docker_client.events(decode=True, filters={"type": "container", "label": f"hardlab.run={run_id}"})
        execs = []
        reader = threading.Thread(target=lambda: execs.extend(
            e for e in stream if str(e.get("Action", "")).startswith("exec_start")), daemon=True)  # fmt: skip
        reader.start()
        out = run_hardlab(str(DATA / "batch.toml"), env={"HARDLAB_BATCH": batch, "HARDLAB_RUN_ID": run_id})
        threading.Event().wait(1.0)  # the last events
        stream.close()
        assert leftovers(docker_client, run_id) == []
        return out, len(execs)

    def evidence(out) -> dict[str, list[tuple[object, str, str]]]:
        return {r["nodeid"]: [(e["exit_code"], re.sub(r"ret=\d+", "ret=N", e["stdout"]), e["stderr"])
                              for e in r["evidence"]] for r in out.summary["results"]}  # fmt: skip

    alone, alone_execs = run("0")
    batched, batched_execs = run("1")
    assert alone.code == 0 and batched.code == 0, batched.output
    assert batched.summary["totals"] == alone.summary["totals"] and alone.summary["totals"]["passed"] == 15
    assert evidence(batched) == evidence(alone)
    killed = [e for r in batched.summary["results"] if "::killed-" in r["nodeid"] for e in r["evidence"]]
    assert [e["exit_code"] for e in killed] == [159] * 3  # SIGSYS, batched or not
    print(f"\nexecs: {alone_execs} one by one, {batched_execs} batched")
    assert batched_execs < alone_execs, (batched_execs, alone_execs)
