#!/usr/bin/env python3
"""The pack through hardlab next to the naive CLI loop a student would type, in one go on one machine.

    python bench/overhead.py [-n 2] [--raw-limit N] [--skip-raw] [--baseline CHECKOUT]

1. `hardlab run -n N` on the whole pack (warm: images built), counting the containers it starts and the
   execs it makes by the engine's own event stream;
2. the same probes as a raw loop: every step hardlab reported for a container case, one after the other,
   as `docker run --rm [the run's options as CLI flags] IMAGE ARGV` (what `for p in ...; docker run --rm`
   does);
and prints wall seconds, containers started, the distinct container configurations the cases need, seconds
per probe and the ratio hardlab / raw per probe (target <= 0.5), with the date, the machine and its load.
`--baseline CHECKOUT` first runs another checkout's pack the same way (e.g. `git worktree add` of main), so
a before/after ratio comes from the same machine and minute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hardlab import spec  # noqa: E402
from hardlab.core import sharing  # noqa: E402
from hardlab.core.inputs import bind  # noqa: E402
from hardlab.engine import images  # noqa: E402
from hardlab.engine.client import connect  # noqa: E402
from hardlab.engine.runner import docker_options  # noqa: E402

TARGET_RATIO = 0.5
SUMMARY = ROOT / "reports" / "summary.json"


class Events:
    """Counts the engine's container events of one run while it runs (the engine keeps only the last
    256 events, so counting afterwards would miss most)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.counts: dict[str, int] = {}
        self._stream = client.events(decode=True, filters={"type": "container", "label": f"hardlab.run={run_id}"})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                action = str(event.get("Action", event.get("status", ""))).split(":")[0]
                self.counts[action] = self.counts.get(action, 0) + 1
        except Exception:  # the stream closed
            return

    def stop(self) -> dict[str, int]:
        time.sleep(1.0)  # let the last events arrive
        self._stream.close()
        return dict(self.counts)


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").is_file() else "?"


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = ""
    if Path("/proc/meminfo").is_file():
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB"
    return f"{socket.gethostname()}: {os.cpu_count()} x {cpu}{mem}, Linux {platform.release()}"


def cli_flags(options: dict[str, Any], base: Path) -> list[str]:
    """docker-py run options (the scenario allow-list) as `docker run` flags."""
    flags: list[str] = []
    for key, value in options.items():
        if key == "command":
            continue  # the probe's argv (or, for a `wait` step, the command itself) goes after the image
        if key == "entrypoint":
            flags += ["--entrypoint", value if isinstance(value, str) else " ".join(value)]
        elif key == "user":
            flags += ["--user", str(value)]
        elif key in ("cap_add", "cap_drop"):
            for cap in value or []:
                flags += [f"--{key.replace('_', '-')}", cap]
        elif key == "security_opt":
            for opt in value or []:
                if opt.startswith("seccomp=") and opt != "seccomp=unconfined":
                    ref = Path(opt.split("=", 1)[1])
                    opt = f"seccomp={ref if ref.is_absolute() else base / ref}"
                flags += ["--security-opt", opt]
        elif key in ("read_only", "privileged", "init", "oom_kill_disable"):
            if value:
                flags.append("--" + key.replace("_", "-"))
        elif key == "pids_limit":
            flags += ["--pids-limit", str(value)]
        elif key == "mem_limit":
            flags += ["--memory", str(value)]
        elif key == "memswap_limit":
            flags += ["--memory-swap", str(value)]
        elif key == "shm_size":
            flags += ["--shm-size", str(value)]
        elif key == "devices":
            for dev in value:
                flags += ["--device", dev]
        elif key == "ulimits":
            for u in value:
                flags += ["--ulimit", f"{u['name']}={u.get('soft', '')}:{u.get('hard', u.get('soft', ''))}"]
        elif key == "network_mode":
            flags += ["--network", value]
        elif key == "tmpfs":
            for path, opts in value.items():
                flags += ["--tmpfs", f"{path}:{opts}" if opts else path]
        elif key in ("userns_mode", "pid_mode", "ipc_mode"):
            flags += [f"--{key.split('_')[0]}", value]
        elif key == "environment":
            for name, val in value.items():
                flags += ["-e", f"{name}={val}"]
        elif key == "working_dir":
            flags += ["--workdir", value]
        elif key == "sysctls":
            for name, val in value.items():
                flags += ["--sysctl", f"{name}={val}"]
        elif key == "nano_cpus":
            flags += ["--cpus", str(value / 1e9)]
        elif key == "hostname":
            flags += ["--hostname", value]
        elif key == "group_add":
            for group in value:
                flags += ["--group-add", str(group)]
        elif key == "volumes":
            for vol in value if isinstance(value, list) else [f"{k}:{v['bind']}" for k, v in value.items()]:
                flags += ["--volume", vol]
    return flags


def raw_probes(summary: dict[str, Any]) -> tuple[list[list[str]], dict[str, int]]:
    """`docker run --rm` argv for every container step hardlab reported, and the configuration counts."""
    probes: list[list[str]] = []
    keys: set[str] = set()
    mutating = 0
    scenarios: dict[Path, spec.Scenario] = {}
    for rec in summary["results"]:
        evidence = rec.get("evidence") or []
        path_text, _, case_id = rec["nodeid"].partition("::")
        path = ROOT / path_text
        if not path_text.endswith(".toml") or not evidence:
            continue
        if path not in scenarios:
            scenarios[path] = spec.load(path, root=ROOT)
        scenario = scenarios[path]
        case = next((c for c in scenario.cases if c.id == case_id), None)
        if case is None or case.runner != "container":
            continue
        values = bind(scenario, {})
        control, main = sharing.case_runs(case, values)
        ran = {row["run"] for row in evidence}
        image = images.resolve(main.image)
        any_own = False
        for role, run in (("control", control), ("case", main)):
            if run is None or role not in ran:
                continue
            options = dict(run.options)
            keys.add(sharing.configuration(image, docker_options(options, scenario.path.parent)))
            any_own = any_own or not run.shareable
            flags = cli_flags(options, scenario.path.parent)
            command = options.get("command")
            for row in evidence:
                if row["run"] != role or row.get("step") == "start":
                    continue
                step = next((s for s in run.steps if s.name == row["step"]), None)
                if step is None:
                    continue
                argv = list(step.argv) if step.kind == "exec" else ([] if command is None else
                                                                     (shlex.split(command) if isinstance(command, str)
                                                                      else list(command)))  # fmt: skip
                user = ["--user", step.user] if step.user else []
                probes.append(["docker", "run", "--rm", *flags, *user, image, *argv])
        mutating += any_own
    return probes, {"configurations": len(keys), "mutating_cases": mutating}


def run_pack(checkout: Path, workers: str, client: Any) -> tuple[float, dict[str, int], str, int]:
    """`hardlab run -n WORKERS` of `checkout`'s code on its pack: wall seconds, engine events, pytest's last
    line, exit code."""
    run_id = "bench-" + uuid.uuid4().hex[:8]
    env = {**os.environ, "HARDLAB_RUN_ID": run_id, "PYTHONPATH": str(checkout)}
    events = Events(client, run_id)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hardlab.cli", "run", "-n", workers, "-q", "-p", "no:cacheprovider"],
                          cwd=checkout, env=env, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - started
    counts = events.stop()
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], file=sys.stderr)
    tail = [line for line in done.stdout.splitlines() if " in " in line and ("passed" in line or "failed" in line)]
    return wall, counts, tail[-1].strip("= ") if tail else "?", done.returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--workers", default="2")
    parser.add_argument("--raw-limit", type=int, default=0, help="run only the first N raw probes (0: all)")
    parser.add_argument("--skip-raw", action="store_true", help="only the pack")
    parser.add_argument("--baseline", type=Path, help="also run this checkout's pack first (e.g. a worktree of main)")
    args = parser.parse_args(argv)
    client = connect()
    subprocess.run([sys.executable, "-m", "hardlab.cli", "images", "build"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["docker", "run", "--rm", images.ensure(client, "lab:busybox"), "true"], check=True)

    print(f"date:    {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine: {machine()}")
    print(f"engine:  Docker {client.version().get('Version')} at {os.environ.get('DOCKER_HOST', 'the local socket')}")
    if args.baseline:
        print(f"load:    {load()} (1-min load average before the baseline)")
        wall, counts, last, _ = run_pack(args.baseline.resolve(), args.workers, client)
        print(f"base:    {args.baseline}: {wall:.1f} s wall, {last}; containers started {counts.get('start', 0)}, "
              f"execs {counts.get('exec_start', 0)}")  # fmt: skip
        base_wall = wall
    print(f"load:    {load()} (1-min load average before the pack)")
    pack, counts, last, code = run_pack(ROOT, args.workers, client)
    summary = json.loads(SUMMARY.read_text())
    probes, plan = raw_probes(summary)
    bound = plan["configurations"] + plan["mutating_cases"]
    print(f"\npack:    `hardlab run -n {args.workers}`: {pack:.1f} s wall, {last}")
    print(f"         containers started {counts.get('start', 0)} (created {counts.get('create', 0)}), "
          f"execs {counts.get('exec_start', 0)}; probes reported {len(probes)}")  # fmt: skip
    print(f"         distinct configurations {plan['configurations']} + mutating cases {plan['mutating_cases']}"
          f" = {bound} (target: containers started <= {bound})")  # fmt: skip
    if args.baseline:
        print(f"         vs the baseline: {pack / base_wall:.2f} x its wall time")
    if args.skip_raw:
        return 0 if code == 0 else 1

    chosen = probes[: args.raw_limit] if args.raw_limit else probes
    print(f"load:    {load()} (before the raw loop)")
    started = time.perf_counter()
    for probe in chosen:
        subprocess.run(probe, capture_output=True, timeout=120)
    raw = time.perf_counter() - started
    raw_per = raw / len(chosen)
    pack_per = pack / len(probes)
    print(f"raw:     {len(chosen)} x `docker run --rm ...` one after the other: {raw:.1f} s wall, "
          f"{len(chosen)} containers started")  # fmt: skip
    print(f"\nper probe: hardlab {pack_per * 1000:.0f} ms, raw CLI {raw_per * 1000:.0f} ms: "
          f"ratio {pack_per / raw_per:.2f} (target <= {TARGET_RATIO}; hardlab's time includes pytest and "
          "the host-step cases)")  # fmt: skip
    print(f"load:    {load()} (after)")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
