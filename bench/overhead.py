#!/usr/bin/env python3
"""Harness overhead next to the raw docker CLI, for the same probe, in one run.

    python bench/overhead.py [N]

Runs N identical probes (read PID 1's Seccomp line in lab:busybox) three ways, sequentially:
  raw      `docker run --rm IMAGE sh -c ...`  (the CLI a student would type)
  engine   hardlab.engine.runner.run_case         (create, start, exec, remove through docker-py)
  pytest   `pytest` on a scenario with N cases (everything: collection, fixtures, reports)
and prints seconds per probe and the ratios. Target: engine/raw <= 1.25.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hardlab import spec  # noqa: E402
from hardlab.engine import images, labels  # noqa: E402
from hardlab.engine.client import connect, sweep_run  # noqa: E402
from hardlab.engine.runner import drain, run_case  # noqa: E402

PROBE = "grep Seccomp: /proc/1/status"
SCENARIO = """schema_version = 1
[scenario]
id = "bench"
title = "benchmark probe"
[[case]]
id = "probe-${n}"
title = "probe"
no_control_reason = "benchmark"
parametrize = [%s]
[[case.step]]
shell = "%s"
exit_code = 0
stdout_contains = ["Seccomp:"]
"""


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    client = connect()
    image = images.ensure(client, "lab:busybox")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenarios" / "bench.toml"
        path.parent.mkdir()
        path.write_text(SCENARIO % (", ".join(f'{{ n = "{i}" }}' for i in range(n)), PROBE))
        scenario = spec.load(path)

        subprocess.run(["docker", "run", "--rm", image, "true"], check=True)  # warm the engine's caches
        started = time.perf_counter()
        for _ in range(n):
            subprocess.run(["docker", "run", "--rm", image, "sh", "-c", PROBE], check=True, capture_output=True)
        raw = (time.perf_counter() - started) / n

        run_id, owner = labels.new_run_id(), labels.owner()
        started = time.perf_counter()
        for case in scenario.cases:
            result = run_case(client, case, path.parent, run_id, owner)
            assert result.main.ok, result
        drain()  # count the last removals too
        engine = (time.perf_counter() - started) / n
        sweep_run(client, run_id)

        started = time.perf_counter()
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        whole = (time.perf_counter() - started) / n
        if done.returncode != 0:
            print(done.stdout[-2000:], file=sys.stderr)
            return 1

    print(f"probes: {n} x `{PROBE}` in {image}")
    print(f"  raw docker run --rm   {raw * 1000:7.0f} ms/probe")
    ratio = engine / raw
    print(f"  hardlab engine        {engine * 1000:7.0f} ms/probe   ratio {ratio:.2f}x  (target <= 1.25x)")
    print(f"  pytest end to end     {whole * 1000:7.0f} ms/probe   ratio {whole / raw:.2f}x  (with pytest start-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
