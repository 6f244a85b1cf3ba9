"""Probes sent to one container at the same time go as one exec (`hardlab-probe --each`).

A probe's own syscall takes microseconds; starting a `docker exec` and a Python for it takes about
60 + 50 ms here, most of a run's time. While one exec runs for a container, the probes other cases send
to the same container (as the same user) queue; when it returns, the queue goes as the next exec: group
commit, so nothing waits when nothing is queued. Each probe still runs in a process of its own (forked
by the prober) and keeps its own stdout, stderr, exit status and time. A probe the batch could not
answer (its process killed by a signal, past its time, a prober without `--each`) comes back as None:
the caller runs it on its own, so a batch never gives an answer a single exec would not. The caller waits
for a batched answer at most WAIT seconds, then runs the probe on its own: queueing behind other probes
never counts against a step's timeout.

Planned probes go earlier still: the pytest adapter plans every probe step of the runs that will share a
configuration's container (`plan`), and once that container has started, `preload` runs them all, in
execs of at most LIMIT probes, while the first cases are still being set up. A run's step then `take`s
one answer made for it (one probe process per planned step, never one answer for two steps); a probe
nobody planned, or one whose answer was lost, runs as above. Only read-only runs share a container,
so when a probe of theirs runs does not change what it answers.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# exec_one(client, container_id, argv, user) -> (exit code, stdout, stderr, cut note): one plain exec.
Exec = Callable[[Any, str, list[str], "str | None"], tuple["int | None", str, str, str]]
LIMIT = 32  # probes per exec at most (each may take the prober's EACH_TIMEOUT, 3 s, before it is lost)
# A step whose timeout is shorter runs alone: an exec's own start-up (~0.1 s) is part of what such a
# timeout judges, and a batched answer, made without it, could beat a limit a single exec never meets.
MIN_TIMEOUT = 5.0
WAIT = 2 * LIMIT * 3.0 + 120  # seconds a caller waits for a batched answer (two full batches + the engine)


@dataclass(frozen=True)
class Answer:
    code: int
    out: str
    err: str
    seconds: float


@dataclass
class _Pending:
    argv: list[str]
    timeout: float
    future: concurrent.futures.Future[Answer | None] = field(default_factory=concurrent.futures.Future)


def batchable(argv: Sequence[str], prober: str, timeout: float = MIN_TIMEOUT) -> bool:
    """A prober call (`hardlab-probe ARGS`) with time to spare, which `--each` can run; anything else
    (a short timeout included) is a plain exec."""
    return len(argv) >= 2 and argv[0] == prober and argv[1] != "--each" and timeout >= MIN_TIMEOUT


def parse(output: str, count: int) -> list[Answer | None]:
    """The prober's JSON lines, one per probe in order; a missing, lost or unreadable line is None."""
    answers: list[Answer | None] = [None] * count
    for line in output.splitlines():
        try:
            record = json.loads(line)
            i = record["i"]
            if isinstance(i, int) and 0 <= i < count and "lost" not in record:
                answers[i] = Answer(int(record["code"]), str(record["out"]), str(record["err"]),
                                    float(record["seconds"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue
    return answers


def each_argv(prober: str, batch: Sequence[_Pending]) -> list[str]:
    entries = [{"argv": p.argv[1:], "timeout": p.timeout} for p in batch]
    return [prober, "--each", json.dumps(entries, separators=(",", ":"))]


class Batches:
    """Per (container, user): a queue of probes and at most one exec in flight draining it."""

    def __init__(self, exec_one: Exec, prober: str, threads: int = 8) -> None:
        self._exec = exec_one
        self._prober = prober
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="hardlab-batch")
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], list[_Pending]] = {}
        self._without: set[str] = set()  # containers whose prober has no --each (a user's own image)
        self.execs = 0  # batch execs made (for the benchmark)
        self.probes = 0  # probes they answered
        self._plans: dict[str, list[tuple[list[str], str, float]]] = {}  # configuration -> planned probes
        # (container, user) -> chunks of preloaded probes: (the argvs in it, their answers to come)
        self._preloads: dict[tuple[str, str], list[tuple[set[tuple[str, ...]], concurrent.futures.Future[Any]]]] = {}

    def plan(self, key: str, argv: Sequence[str], user: str | None, timeout: float) -> None:
        """One probe step a run of configuration `key` will make (called before its container starts)."""
        if batchable(argv, self._prober, timeout):
            with self._lock:
                self._plans.setdefault(key, []).append((list(argv), user or "", timeout))

    def preload(self, client: Any, key: str, container_id: str) -> None:
        """Run the probes planned for `key` in its freshly started container, in the background."""
        with self._lock:
            planned = self._plans.pop(key, [])
        by_user: dict[str, list[_Pending]] = {}
        for argv, user, timeout in planned:
            by_user.setdefault(user, []).append(_Pending(argv, timeout))
        for user, pending in by_user.items():
            for at in range(0, len(pending), LIMIT):
                chunk = pending[at : at + LIMIT]
                future = self._pool.submit(self._preload_chunk, client, (container_id, user), chunk)
                with self._lock:
                    chunks = self._preloads.setdefault((container_id, user), [])
                    chunks.append(({tuple(p.argv) for p in chunk}, future))

    def _preload_chunk(
        self, client: Any, key: tuple[str, str], chunk: list[_Pending]
    ) -> dict[tuple[str, ...], list[Answer]]:
        self._run(client, key, chunk)
        answers: dict[tuple[str, ...], list[Answer]] = {}
        for p in chunk:
            answer = p.future.result()
            if answer is not None:
                answers.setdefault(tuple(p.argv), []).append(answer)
        return answers

    def take(self, container_id: str, argv: Sequence[str], user: str | None, timeout: float) -> Answer | None:
        """One preloaded answer made for this probe in this container (waiting for its exec), or None.
        A step that would not have been planned (a short timeout) never takes another step's answer."""
        if not batchable(argv, self._prober, timeout):
            return None
        with self._lock:
            chunks = [f for argvs, f in self._preloads.get((container_id, user or ""), []) if tuple(argv) in argvs]
        for future in chunks:
            try:
                answers = future.result(timeout=WAIT)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError, Exception):
                continue
            with self._lock:
                found = answers.get(tuple(argv))
                if found:
                    return found.pop()
        return None

    def submit(self, client: Any, container_id: str, argv: Sequence[str], user: str | None,
               timeout: float) -> concurrent.futures.Future[Answer | None] | None:  # fmt: skip
        """The probe's answer to come (None in it: run it on its own); None now when it cannot be batched."""
        if not batchable(argv, self._prober, timeout) or container_id in self._without:
            return None
        pending = _Pending(list(argv), timeout)
        key = (container_id, user or "")
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None:  # an exec is in flight for it: this probe goes with the next one
                queue.append(pending)
                return pending.future
            self._queues[key] = []
        self._pool.submit(self._drain, client, key, [pending])
        return pending.future

    def _drain(self, client: Any, key: tuple[str, str], batch: list[_Pending]) -> None:
        while batch:
            try:
                self._run(client, key, batch)
            except BaseException:  # never strand a caller: it runs its probe on its own
                for p in batch:
                    if not p.future.done():
                        p.future.set_result(None)
            with self._lock:
                queue = self._queues[key]
                batch, rest = queue[:LIMIT], queue[LIMIT:]
                if batch:
                    self._queues[key] = rest
                else:
                    del self._queues[key]

    def _run(self, client: Any, key: tuple[str, str], batch: list[_Pending]) -> None:
        """One `--each` exec, even for a single probe: the prober then bounds each probe's time itself
        (a probe past its time is lost and rerun alone, where its step's timeout judges it)."""
        container_id, user = key
        if container_id in self._without:
            for p in batch:
                p.future.set_result(None)
            return
        code, out, _err, cut = self._exec(client, container_id, each_argv(self._prober, batch), user or None)
        answers = parse(out, len(batch)) if not cut else [None] * len(batch)
        if code != 0 and not any(answers):
            self._without.add(container_id)
        with self._lock:
            self.execs += 1
            self.probes += sum(a is not None for a in answers)
        for p, answer in zip(batch, answers, strict=True):
            p.future.set_result(answer)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
