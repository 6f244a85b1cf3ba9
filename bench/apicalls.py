#!/usr/bin/env python3
"""Where a pack run's engine time goes: every Docker API call of `hardlab run`, timed and summed by kind.

    python bench/apicalls.py [-n 2] [-- extra hardlab run args]

Runs `hardlab run -n N` with docker-py's APIClient._get/_post/_delete wrapped (via a sitecustomize put on
PYTHONPATH for this run only, so xdist workers are measured too), then prints per endpoint: calls, summed
seconds, mean ms, and per process its span (first call to last) and the seconds spent starting containers.
Summed seconds overlap (two workers, concurrent control and case), so compare them with each other, not
with the wall time. Used to decide whether batching probes into one exec pays (see the issue-11 notes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOOK = r"""
import atexit, json, os, threading, time
try:
    import docker.api.client as _c
except Exception:
    _c = None
if _c is not None:
    _rec, _lock = [], threading.Lock()
    def _wrap(name):
        orig = getattr(_c.APIClient, name)
        def timed(self, url, *a, **k):
            t = time.monotonic()
            try:
                return orig(self, url, *a, **k)
            finally:
                with _lock:
                    _rec.append((str(url), t, time.monotonic() - t))
        setattr(_c.APIClient, name, timed)
    for _n in ("_get", "_post", "_delete"):
        _wrap(_n)
    def _dump():
        with open(os.path.join(os.environ["HARDLAB_BENCH_APICALLS"], f"calls-{os.getpid()}.json"), "w") as fh:
            json.dump(_rec, fh)
    atexit.register(_dump)
"""


def endpoint(url: str) -> str:
    """`/v1.47/containers/<id>/start?x` -> `containers/ID/start`."""
    path = re.sub(r"^.*?/v1\.\d+/", "", url.split("?")[0])
    return re.sub(r"/[0-9a-f]{12,64}(?=/|$)", "/ID", path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--workers", default="2")
    parser.add_argument("extra", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hardlab-apicalls-") as tmp:
        Path(tmp, "sitecustomize.py").write_text(HOOK)
        env = {**os.environ, "HARDLAB_BENCH_APICALLS": tmp,
               "PYTHONPATH": os.pathsep.join(p for p in (tmp, os.environ.get("PYTHONPATH", "")) if p)}  # fmt: skip
        hardlab = Path(sys.executable).with_name("hardlab")
        started = time.monotonic()
        run = subprocess.run([str(hardlab), "run", "-n", args.workers, *args.extra], cwd=ROOT, env=env,
                             capture_output=True, text=True)  # fmt: skip
        wall = time.monotonic() - started
        calls = {p.name: json.loads(p.read_text()) for p in Path(tmp).glob("calls-*.json")}
    print(f"hardlab run -n {args.workers}: {wall:.1f} s wall, exit {run.returncode}; load {os.getloadavg()[0]:.2f}")
    total: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for name, rec in sorted(calls.items()):
        if not rec:
            continue
        starts = sum(d for u, _, d in rec if endpoint(u) == "containers/ID/start")
        span = max(t + d for _, t, d in rec) - min(t for _, t, _ in rec)
        print(f"  {name}: {len(rec)} calls over {span:.1f} s; container starts {starts:.1f} s")
        for url, _, d in rec:
            total[endpoint(url)][0] += 1
            total[endpoint(url)][1] += d
    print(f"{'seconds':>8} {'calls':>6} {'mean ms':>8}  endpoint")
    for key, (n, s) in sorted(total.items(), key=lambda kv: -kv[1][1]):
        print(f"{s:8.2f} {int(n):6d} {s / n * 1000:8.1f}  {key}")
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
