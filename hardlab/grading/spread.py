"""Grade one class on several engines: a queue of students, engines pulling the next few as they finish.

The plan is made once (`hardlab.grading.plan`, pure). Each engine gets the lab images (built once here,
imported once per engine), a run id of its own and one worker per `per_engine` slot. A worker takes the
next students from the queue (a guided share: big early, one at a time at the end, so engines finish
together whatever each student costs), grades them in a pytest process bound to its engine (DOCKER_HOST,
DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), and hands back their records, each marked with the engine.

An engine that stops answering (connection refused, or no answer to a ping for a while) is dropped: the
students it was grading go back to the front of the queue and are graded on the others, and the report
says who was regraded and why. A student's records come from exactly one engine's finished batch, so no
student is graded twice or lost while one engine still answers.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hardlab.engine.endpoints import Endpoint
from hardlab.grading import plan as grading_plan
from hardlab.grading.plan import RECORDS_NAME, Plan
from hardlab.pytest.state import host_cache_path

ENGINES_NAME = "engines.json"
POLL_S = 1.0  # how often a worker looks at its pytest process
PING_EVERY_S = 3.0  # how often a worker asks its engine whether it still answers
PING_TIMEOUT_S = 10.0
PINGS_LOST = 3  # this many unanswered pings in a row: the engine is gone (or too slow to grade on)
KILL_GRACE_S = 15.0


@dataclass
class Regrade:
    """A student whose first engine stopped while grading them."""

    student: str
    lost_on: str
    why: str
    graded_on: str = ""


@dataclass
class EngineShare:
    """What one engine did: the students it graded, how long it was busy, whether it is still alive."""

    name: str
    url: str
    tls: bool
    students: list[str] = field(default_factory=list)
    checks: int = 0
    batches: int = 0
    busy_s: float = 0.0
    images_s: float = 0.0
    status: str = "ok"  # ok | lost
    why: str = ""


class Dispatch:
    """The class as a queue. `take` blocks while others are grading (their students may come back) and
    returns [] once everything is graded or no engine is left to grade it."""

    def __init__(self, students: list[str], workers: int, max_batch: int) -> None:
        self._queue: deque[str] = deque(students)
        self._workers = max(1, workers)
        self._max = max(1, max_batch)
        self._in_flight: dict[str, list[str]] = {}
        self._cond = threading.Condition()
        self.done: dict[str, str] = {}  # student -> engine whose records count
        self.regrades: list[Regrade] = []

    def size(self) -> int:
        """The guided share: the queue split over twice the live workers, at most max_batch, at least 1."""
        return max(1, min(self._max, math.ceil(len(self._queue) / (2 * self._workers))))

    def take(self, worker: str) -> list[str]:
        with self._cond:
            while not self._queue and self._in_flight:
                self._cond.wait(timeout=5)
            if not self._queue:
                return []
            batch = [self._queue.popleft() for _ in range(min(self.size(), len(self._queue)))]
            self._in_flight[worker] = batch
            return batch

    def finished(self, worker: str, engine: str) -> None:
        with self._cond:
            for student in self._in_flight.pop(worker, []):
                self.done[student] = engine
                for note in self.regrades:
                    if note.student == student and not note.graded_on:
                        note.graded_on = engine
            self._cond.notify_all()

    def lost(self, worker: str, engine: str, why: str) -> list[str]:
        """The worker's engine is gone: its students go back to the front of the queue, in order."""
        with self._cond:
            batch = self._in_flight.pop(worker, [])
            self._queue.extendleft(reversed(batch))
            self.regrades += [Regrade(s, engine, why) for s in batch]
            self._cond.notify_all()
            return batch

    def retire(self) -> None:
        """One worker stops for good (its engine is gone): shares are computed over the others."""
        with self._cond:
            self._workers = max(1, self._workers - 1)
            self._cond.notify_all()

    def left(self) -> list[str]:
        with self._cond:
            return list(self._queue)


@dataclass
class Spread:
    """A finished multi-engine grading: every record, and what each engine did."""

    records: list[dict[str, Any]]
    shares: list[EngineShare]
    regrades: list[Regrade]
    ungraded: list[str]  # students no engine could grade (every engine was lost)

    def report(self) -> dict[str, Any]:
        return {
            "engines": [asdict(s) for s in self.shares],
            "regraded": [asdict(r) for r in self.regrades],
            "ungraded": self.ungraded,
        }


def write_report(spread: Spread, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / ENGINES_NAME
    path.write_text(json.dumps(spread.report(), indent=1) + "\n")
    return path


RUNNING: set[subprocess.Popen[bytes]] = set()  # every batch's pytest process now running, for Ctrl-C


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class EngineLost(Exception):
    """The engine stopped answering while a batch ran on it (internal to this module)."""


def grade(
    plan: Plan, engines: list[tuple[Endpoint, Any]], work: Path, pytest_args: Any, per_engine: int = 1,
    max_batch: int = 8, log: TextIO = sys.stderr,
) -> Spread:  # fmt: skip
    """Grade `plan` over `engines` ((endpoint, client) pairs that answered a ping). `pytest_args(work,
    plan_file)` is the pytest command line of one batch (without `-n`: one process per batch)."""
    from hardlab.engine import images, labels
    from hardlab.engine.probe import probe

    shares = [EngineShare(e.name, e.url, e.tls) for e, _ in engines]
    from hardlab import config

    base_id = config.env("HARDLAB_RUN_ID") or labels.new_run_id()  # each worker's id starts with it
    # A run id per worker: a batch's own sweep at its end must not remove a neighbour's containers.
    run_ids = {f"{e.name}#{k}": f"{base_id}-e{n}w{k}" for n, (e, _) in enumerate(engines) for k in range(per_engine)}
    facts: dict[str, str] = {}  # engine -> its host probe, made once here, handed to each of its batches
    dispatch = Dispatch(plan.students, len(engines) * per_engine, max_batch)
    records: dict[str, list[dict[str, Any]]] = {}
    lock = threading.Lock()
    gone: set[str] = set()
    interrupted = threading.Event()  # Ctrl-C / SIGTERM: workers stop, nothing more is reported

    def engine_main(n: int) -> None:
        endpoint, client = engines[n]
        share = shares[n]
        started = time.monotonic()
        try:
            images.ensure_all(client, log)
            facts[endpoint.name] = probe(client, local=endpoint.url.startswith("unix://")).to_json()
        except Exception as exc:  # an image the engine cannot take: it grades nothing
            _lose(share, f"could not be prepared (lab images, engine probe): {exc}", gone, lock)
            print(f"hardlab grade: engine {share.name}: {share.why}; grading on the others", file=log, flush=True)
            for _ in range(per_engine):
                dispatch.retire()
            return
        share.images_s = round(time.monotonic() - started, 1)
        slots = [threading.Thread(target=worker, args=(n, k), name=f"grade-{endpoint.name}-{k}", daemon=True)
                 for k in range(per_engine)]  # fmt: skip
        for t in slots:
            t.start()
        for t in slots:
            t.join()

    def worker(n: int, k: int) -> None:
        endpoint, client = engines[n]
        share = shares[n]
        me = f"{endpoint.name}#{k}"
        while share.name not in gone:
            batch = dispatch.take(me)
            if not batch:
                return
            with lock:
                share.batches += 1
                number = share.batches
            folder = work / "engines" / f"{n}" / f"batch-{number}-{k}"
            print(f"hardlab grade: engine {share.name}: grading {', '.join(batch)}", file=log, flush=True)
            started = time.monotonic()
            try:
                host_cache_path(run_ids[me]).write_text(facts[endpoint.name])  # facts of this engine alone
                got = run_batch(plan, batch, endpoint, client, folder, run_ids[me], pytest_args,
                                lambda: share.name in gone)  # fmt: skip
            except EngineLost as exc:
                if interrupted.is_set():
                    return
                why = str(exc)
                with lock:
                    first = share.name not in gone
                _lose(share, why, gone, lock)
                back = dispatch.lost(me, share.name, why)
                dispatch.retire()
                if first:
                    print(f"hardlab grade: engine {share.name} ({share.url}) {why}", file=log, flush=True)
                if back:
                    print(f"hardlab grade: {', '.join(back)} go back to the queue (were being graded on "
                          f"{share.name})", file=log, flush=True)  # fmt: skip
                return
            took = time.monotonic() - started
            if interrupted.is_set():
                return
            with lock:
                for student in batch:
                    records[student] = [r for r in got if r["student"] == student]
                share.students += batch
                share.checks += len(got)
                share.busy_s = round(share.busy_s + took, 1)
            dispatch.finished(me, share.name)
            print(f"hardlab grade: engine {share.name}: graded {', '.join(batch)} ({took:.1f}s)", file=log, flush=True)

    threads = [threading.Thread(target=engine_main, args=(n,), name=f"grade-{e.name}", daemon=True)
               for n, (e, _) in enumerate(engines)]  # fmt: skip
    previous = signal.getsignal(signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    if main and previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _interrupt)  # a killed grading job unwinds like Ctrl-C
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
    except BaseException:
        # Ctrl-C or SIGTERM: every batch's pytest (its own session, out of the terminal's reach) is told to
        # unwind, which sweeps its engine; then each engine's run is swept once more.
        interrupted.set()
        gone.update(e.name for e, _ in engines)
        for proc in list(RUNNING):
            _kill(proc)
        _sweep_all(engines, run_ids, set(), log)
        raise
    finally:
        if main and previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for run_id in run_ids.values():  # the engines' probes handed to batches go with the run, however it ends
            host_cache_path(run_id).unlink(missing_ok=True)
    _sweep_all(engines, run_ids, gone, log)
    ordered = [r for student in plan.students for r in records.get(student, [])]
    ungraded = [s for s in plan.students if s not in records]
    return Spread(ordered, shares, dispatch.regrades, ungraded)


def _lose(share: EngineShare, why: str, gone: set[str], lock: threading.Lock) -> None:
    with lock:
        if share.name not in gone:
            gone.add(share.name)
            share.status, share.why = "lost", why


def run_batch(
    plan: Plan, batch: list[str], endpoint: Endpoint, client: Any, folder: Path, run_id: str, pytest_args: Any,
    stop: Any = lambda: False,
) -> list[dict[str, Any]]:  # fmt: skip
    """Grade the students `batch` in a pytest process bound to `endpoint`; their records, marked with the
    engine. Raises EngineLost when the engine stops answering before the batch is graded."""
    from hardlab.engine.client import answers

    folder.mkdir(parents=True, exist_ok=True)
    wanted = set(batch)
    entries = [e for e in plan.entries if e.student in wanted]
    part = Plan(plan.course_id, plan.course_title, plan.course_file, plan.limits, list(batch), entries, [])
    plan_file = folder / grading_plan.PLAN_NAME
    plan_file.write_text(part.to_json(), encoding="utf-8")
    (folder / "pytest.ini").write_text("[pytest]\naddopts =\n")
    env = endpoint.environment(os.environ)
    env["HARDLAB_RUN_ID"] = run_id  # the engine's own run: its sweep finds exactly this engine's containers
    with open(folder / "pytest.log", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args(folder, plan_file)], cwd=folder,
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    RUNNING.add(proc)
    try:
        missed = watch(proc, client, stop)
    except BaseException:  # the engine is lost, or hardlab grade is interrupted: the batch unwinds and goes
        _kill(proc)
        raise
    finally:
        RUNNING.discard(proc)
    got = _read_records(folder / RECORDS_NAME)
    seen = {(r["student"], r["assignment"], r["case"]) for r in got}
    missing = [e for e in entries if (e.student, e.assignment, e.case) not in seen]
    # An engine that went away under a batch can make a step look failed (a killed container exits 137),
    # not only errored: a batch counts only if its engine answered throughout and still answers after it.
    if missed or not answers(client, PING_TIMEOUT_S):
        errors = sum(r.get("outcome") == "error" for r in got)
        raise EngineLost(f"stopped answering while grading {', '.join(batch)} (pytest exit {proc.returncode}, "
                         f"{errors} check(s) errored, {len(missing)} without a result)")  # fmt: skip
    for rec in got:
        rec["engine"] = endpoint.name
    return got


def watch(proc: subprocess.Popen[bytes], client: Any, stop: Any) -> int:
    """Wait for the batch; the number of pings its engine left unanswered meanwhile. Raise EngineLost after
    PINGS_LOST unanswered pings in a row, or when another worker on the same engine found it gone."""
    from hardlab.engine.client import answers

    last_ping, unanswered, missed = time.monotonic(), 0, 0
    while True:
        try:
            proc.wait(timeout=POLL_S)
            return missed
        except subprocess.TimeoutExpired:
            pass
        if stop():
            raise EngineLost("was lost by another worker of the same engine, or the run was interrupted")
        if time.monotonic() - last_ping < PING_EVERY_S:
            continue
        last_ping = time.monotonic()
        if answers(client, PING_TIMEOUT_S):
            unanswered = 0
            continue
        unanswered += 1
        missed += 1
        if unanswered >= PINGS_LOST:
            raise EngineLost(f"stopped answering (no answer to {PINGS_LOST} pings in a row, "
                             f"{PING_TIMEOUT_S:.0f}s each)")  # fmt: skip


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the batch's process group (pytest unwinds and sweeps), SIGKILL what is left after a grace."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _read_records(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def _sweep_all(engines: list[tuple[Endpoint, Any]], run_ids: dict[str, str], gone: set[str], log: TextIO) -> None:
    """Each live engine's run swept once more at the end (the batches swept their own as they finished)."""
    from hardlab.engine.client import sweep_run
    from hardlab.errors import HarnessError

    for endpoint, client in engines:
        if endpoint.name in gone:
            continue
        for worker, run_id in run_ids.items():
            if worker.rpartition("#")[0] != endpoint.name:
                continue
            try:
                sweep_run(client, run_id)
            except HarnessError as exc:
                print(f"hardlab grade: engine {endpoint.name}: {exc}", file=log)
