"""Record -> generate -> (minimise) -> prove: the engine parts, through hardlab.engine and the pytest runner.

Recording runs each workload as `sh -c CMD` under `strace -f` in a container with seccomp=unconfined and
CAP_SYS_PTRACE added (the only extra capability: strace needs it where Yama restricts ptrace); the
proof runs the same `sh -c CMD` as the main process of a container under the learned profile.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO

import tomllib

from hardlab.engine import labels
from hardlab.engine.client import EngineError, connect
from hardlab.engine.lifecycle import run_once
from hardlab.engine.runner import ensure_image
from hardlab.errors import BadInput, HarnessError
from hardlab.learn import profile as gen
from hardlab.learn import proof, runtime, trace
from hardlab.spec import CONTAINER_OPTIONS, container_problems, normal_options

METHOD = "strace -f --quiet=attach,exit -e trace=all (inside the container, seccomp=unconfined, cap_add SYS_PTRACE)"
# On a tmpfs of its own: the workload's options may make the root read-only or its user not root.
TRACE_DIR = "/.hardlab-learn"
TRACE_FILE = f"{TRACE_DIR}/trace"
MARK = "@@hardlab-learn-trace@@"
# $1 is the workload; the trace goes to stderr after a marker, so stdout stays the workload's own.
RECORDER = (
    f'strace -f --quiet=attach,exit -e trace=all -o {TRACE_FILE} -- /bin/sh -c "$1"; rc=$?; '
    f'echo "{MARK} rc=$rc" >&2; cat {TRACE_FILE} >&2; exit $rc'
)
# The prober's own calls are the same for every syscall it makes but for these argument set-ups (a file to
# chown, iovecs, a socket): recording these covers the others. A call it missed fails a case, visibly.
PROBE_SAMPLE = ("getpid", "fchownat", "process_vm_readv", "socket", "clone3-seccomp")
KEEPALIVE = "sleep 0.01"  # the scenario's containers keep alive with `sleep infinity`: same calls


@dataclass
class Options:
    runs: list[str]
    out: Path
    name: str
    image: str = "lab:tools"
    allow: dict[str, str] = field(default_factory=dict)
    minimise: bool = False
    timeout: float = 60
    workers: str = "0"
    container: dict[str, Any] = field(default_factory=dict)  # the workload's own run options (--container)


@dataclass
class Recording:
    workloads: list[proof.Workload]
    calls: dict[str, list[str]]  # ABI -> syscall names
    probe_calls: list[str]
    unknown: list[str]
    seconds: float
    container: dict[str, Any] = field(default_factory=dict)

    def all(self) -> set[str]:
        return {n for names in self.calls.values() for n in names}

    def to_json(self) -> str:
        data = {
            "method": METHOD, "workloads": [w.__dict__ for w in self.workloads], "calls": self.calls,
            "probe_calls": self.probe_calls, "unknown": self.unknown, "seconds": round(self.seconds, 2),
            "container": self.container,
        }  # fmt: skip
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Recording:
        data = json.loads(text)
        return cls(
            [proof.Workload(**w) for w in data["workloads"]], data["calls"], data["probe_calls"],
            data.get("unknown", []), data.get("seconds", 0.0), data.get("container", {}),
        )  # fmt: skip


@dataclass
class Proof:
    passed: bool
    totals: dict[str, int]
    failed: list[str]  # case ids
    missing: list[str]  # syscalls whose addition makes a failing workload succeed
    seconds: float
    pytest_exit: int


@dataclass
class Learned:
    recording: Recording
    profile: dict[str, Any]
    files: dict[str, Path]
    left_out: list[str]  # dangerous rows the profile allows (the workload made them)
    minimised: tuple[int, float] | None  # (removed, seconds)
    proof: Proof | None


# What `--container` may not set: learn sets the profile itself, and the workload is the command.
NOT_SETTABLE = {
    "security_opt": "learn sets the seccomp profile itself (unconfined to record, the learned one to prove)",
    "privileged": "a privileged container has no seccomp filter to learn",
    "command": "the workload is the command: give it with --run or --run-file",
    "entrypoint": "the workload runs as `sh -c CMD`: give it with --run or --run-file",
}
RUN_FILE_BYTES = 64 * 1024


def container_options(items: Sequence[str]) -> dict[str, Any]:
    """`--container KEY=VALUE` (repeatable) -> container options. VALUE is read as a TOML value when it
    is one (`read_only=true`, `pids_limit=64`, `cap_drop=["ALL"]`), else as a string (`user=1000:1000`);
    a string given to a list option is one more item of it (`--container cap_add=CHOWN` twice)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise BadInput(f"--container {item!r}: expected KEY=VALUE, e.g. --container user=1000")
        if key in NOT_SETTABLE:
            raise BadInput(f"--container {key}: {NOT_SETTABLE[key]}")
        if key not in CONTAINER_OPTIONS:
            raise BadInput(f"--container {key}: unknown container option; known: "
                           f"{', '.join(sorted(set(CONTAINER_OPTIONS) - set(NOT_SETTABLE)))}")  # fmt: skip
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        if CONTAINER_OPTIONS[key] == (list,) and not isinstance(value, list):
            value = [*out.get(key, []), value]
        out[key] = value
    problems = container_problems(out, Path.cwd())
    if problems:
        raise BadInput("; ".join(f"--container {p}" for p in problems))
    return normal_options(out)


def workload_file(path: Path) -> str:
    """The text of a `--run-file` script, run as `sh -c TEXT` like a --run CMD."""
    try:
        with open(path, "rb") as f:
            if not os.path.isfile(path):
                raise BadInput(f"--run-file {path}: not a regular file")
            data = f.read(RUN_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"--run-file {path}: {exc.strerror}") from exc
    if len(data) > RUN_FILE_BYTES:
        raise BadInput(f"--run-file {path}: larger than {RUN_FILE_BYTES} bytes (a workload script, not data)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"--run-file {path}: not UTF-8 text (byte {exc.start})") from exc
    if not text.strip():
        raise BadInput(f"--run-file {path}: empty")
    return text


def paths(out: Path, name: str) -> dict[str, Path]:
    return {
        "profile": out / f"{name}.json", "probe": out / f"{name}.probe.json",
        "scenario": out / f"{name}.toml", "recording": out / f"{name}.recording.json",
    }  # fmt: skip


def learn(opts: Options, log: TextIO = sys.stderr) -> Learned:
    """Record, generate, optionally minimise, write the files and prove them."""
    if not opts.runs:
        raise BadInput("nothing to learn: give the workload with --run CMD or --run-file SCRIPT")
    client = connect()
    image = ensure_image(client, opts.image)
    rt = runtime.load()
    rec = record(client, image, opts.runs, opts.timeout, log, opts.container)
    prof = gen.generate(rec.all(), rt.reasons, opts.allow, rt.version)
    minimised = None
    if opts.minimise:
        started = time.monotonic()
        before = len(gen.allowed(prof))
        prof = minimise(client, image, prof, rec, opts.timeout, log, rt.reasons)
        minimised = (before - len(gen.allowed(prof)), time.monotonic() - started)
    files = write(opts.out, opts.name, opts.image, prof, rec, opts.timeout)
    _, left_out = proof.probed(gen.allowed(prof))
    done = prove(client, image, files, rec, opts.workers, opts.timeout, log)
    return Learned(rec, prof, files, left_out, minimised, done)


def prove_again(profile_path: Path, workers: str = "0", timeout: float = 60, log: TextIO = sys.stderr) -> Learned:
    """Prove an existing (perhaps edited) profile against the recording next to it."""
    name, out = profile_path.stem, profile_path.parent
    files = paths(out, name)
    try:
        rec = Recording.from_json(files["recording"].read_text(encoding="utf-8"))
        prof = json.loads(profile_path.read_text(encoding="utf-8"))
        meta = json.loads(files["recording"].read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(
            f"{profile_path}: needs the profile and {files['recording'].name} that learn wrote: {exc}"
        ) from exc
    client = connect()
    image_ref = meta.get("image", "lab:tools")
    image = ensure_image(client, image_ref)
    files = write(out, name, image_ref, prof, rec, timeout)
    _, left_out = proof.probed(gen.allowed(prof))
    return Learned(rec, prof, files, left_out, None, prove(client, image, files, rec, workers, timeout, log))


def record(
    client: Any, image: str, runs: Sequence[str], timeout: float, log: TextIO, container: Mapping[str, Any] = {}
) -> Recording:
    started = time.monotonic()
    merged = trace.Recorded()
    workloads = []
    for cmd in runs:
        code, calls, said = _trace(client, image, cmd, timeout, container)
        workloads.append(proof.Workload(cmd, code))
        for abi, names in calls.calls.items():
            for n in names:
                merged.add(abi, n)
        merged.unknown |= calls.unknown
        print(f"hardlab learn: recorded {cmd!r}: exit {code}, {len(calls.all())} syscalls "
              f"({', '.join(f'{a} {len(n)}' for a, n in sorted(calls.calls.items()))})", file=log)  # fmt: skip
        if code != 0:  # proven as recorded, but rarely what the user meant: say so, with its own words
            print(f"hardlab learn: warning: {cmd!r} exited {code} while recorded; the proof expects exit {code}. "
                  f"If it should succeed, fix the workload or its --container options. Its stderr ends: "
                  f"{said.strip()[-300:]!r}", file=log)  # fmt: skip
    # The prober and the keep-alive the refusal cases need, probed calls included (they are removed).
    script = KEEPALIVE + "".join(f"; hardlab-probe {s}; hardlab-probe --abi i386 {s}" for s in PROBE_SAMPLE)
    _, probe_calls, _ = _trace(client, image, script + " >/dev/null 2>&1; true", timeout)
    return Recording(
        workloads, {a: sorted(n) for a, n in sorted(merged.calls.items())}, sorted(probe_calls.all()),
        sorted(merged.unknown), time.monotonic() - started, dict(container),
    )  # fmt: skip


def _trace(
    client: Any, image: str, cmd: str, timeout: float, container: Mapping[str, Any] = {}
) -> tuple[int, trace.Recorded, str]:
    """(exit code, the calls recorded, the workload's own stderr)."""
    # strace needs SYS_PTRACE on top of the workload's own options (cap_add wins over cap_drop ALL).
    options = {**container, "cap_add": [*container.get("cap_add", []), "SYS_PTRACE"],
               "security_opt": ["seccomp=unconfined"],
               "tmpfs": {**container.get("tmpfs", {}), TRACE_DIR: "mode=1777,size=256m"}}  # fmt: skip
    code, _, err = run_once(
        client, image, ["/bin/sh", "-c", RECORDER, "hardlab-learn", cmd], labels.for_current_run(), timeout, **options
    )
    if MARK not in err:
        raise HarnessError(f"recording {cmd!r} in {image} did not run strace (exit {code}): {err.strip()[-300:]}")
    said, _, text = err.partition(MARK)
    if "strace: " in text.split("\n", 1)[0] or not text.strip():
        raise HarnessError(f"strace could not record {cmd!r} in {image}: {text[:300]}")
    recorded = trace.parse(text.split("\n", 1)[1] if "\n" in text else "")
    if not recorded.all():
        raise HarnessError(
            f"strace recorded no syscalls for {cmd!r} in {image} (is strace in the image?): {err[-300:]}"
        )
    return int(code if code is not None else -1), recorded, said


def runs_under(client: Any, image: str, prof: Mapping[str, Any], rec: Recording, timeout: float) -> bool:
    """Whether every workload exits as recorded as the main process of a container under `prof` (with the
    workload's own run options)."""
    text = gen.to_json(prof)
    for w in rec.workloads:
        try:
            code, _, _ = run_once(
                client, image, ["/bin/sh", "-c", w.command], labels.for_current_run(), timeout,
                **{**rec.container, "security_opt": ["seccomp=" + text]},
            )  # fmt: skip
        except EngineError:  # the runtime itself could not start the container under the profile
            return False
        if code != w.exit_code:
            return False
    return True


def minimise(
    client: Any,
    image: str,
    prof: dict[str, Any],
    rec: Recording,
    timeout: float,
    log: TextIO,
    keep: Iterable[str] = (),
    tries: int = 2,
) -> dict[str, Any]:
    """Drop each allowed syscall in turn; keep the drop when every workload still exits as recorded in
    `tries` runs. `keep` (the runtime's list) is never dropped: the Go runtime's calls depend on timing,
    so one lucky start proves nothing (measured: dropping them made starts fail intermittently)."""
    current = prof
    for name in sorted(gen.allowed(prof) - set(keep)):
        candidate = gen.without(current, [name])
        if all(runs_under(client, image, candidate, rec, timeout) for _ in range(tries)):
            current = candidate
            print(f"hardlab learn: --minimise: {name} is not needed", file=log)
    return current


def write(out: Path, name: str, image: str, prof: Mapping[str, Any], rec: Recording, timeout: float) -> dict[str, Path]:
    files = paths(out, name)
    out.mkdir(parents=True, exist_ok=True)
    allows = gen.allowed(prof)
    # Argument-filtered calls stay (with Docker's filter): the prober forks through clone, and the filter
    # refuses the probed arguments whether or not the learned profile names the call.
    extra = set(rec.probe_calls) - (set(proof.probe_syscalls(allows)) - set(proof.ARG_FILTERED))
    probe_prof = gen.with_allowed(prof, extra, "not in the learned profile: what hardlab-probe and sleep need")
    if files["profile"].exists() and json.loads(files["profile"].read_text(encoding="utf-8")) == prof:
        pass  # an edited profile is proven as it is: never rewritten
    else:
        files["profile"].write_text(gen.to_json(prof), encoding="utf-8")
    files["probe"].write_text(gen.to_json(probe_prof), encoding="utf-8")
    meta = json.loads(rec.to_json())
    meta["image"] = image
    files["recording"].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    files["scenario"].write_text(
        proof.scenario(
            name, image, rec.workloads, files["profile"].name, files["probe"].name, allows, timeout, rec.container
        ),
        encoding="utf-8",
    )
    return files


def prove(
    client: Any,
    image: str,
    files: Mapping[str, Path],
    rec: Recording,
    workers: str,
    timeout: float,
    log: TextIO,
    run_pytest: Callable[[Path, Path, str], int] | None = None,
) -> Proof:
    """Run the scenario through the normal runner; when a workload fails, find the syscall it missed."""
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hardlab-learn-"))
    try:
        report = work / "summary.json"
        code = (run_pytest or _pytest)(files["scenario"], report, workers)
        if not report.is_file():
            raise HarnessError(f"the proof ended without results (pytest exit {code})")
        data = json.loads(report.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = data.get("results", [])
    failed = [r["nodeid"].split("::")[-1] for r in results if r["outcome"] in {"failed", "error"}]
    missing: list[str] = []
    prof = json.loads(files["profile"].read_text(encoding="utf-8"))
    if any(f.startswith("workload-") for f in failed):
        missing = diagnose(client, image, prof, rec, timeout)
    seconds = time.monotonic() - started
    passed = code == 0 and not failed and bool(results)
    return Proof(passed, data.get("totals", {}), failed, missing, seconds, code)


def diagnose(client: Any, image: str, prof: Mapping[str, Any], rec: Recording, timeout: float) -> list[str]:
    """The recorded (or runtime) syscalls the profile lacks whose addition alone makes the workloads run."""
    if runs_under(client, image, prof, rec, timeout):
        return []  # it ran this time: the failure is intermittent, no single call explains it
    rt = runtime.load()
    candidates = sorted((rec.all() | set(rt.reasons)) - gen.allowed(prof) - {"clone3"})
    return [c for c in candidates if runs_under(client, image, gen.with_allowed(prof, [c], "diagnosis"), rec, timeout)]


def _pytest(scenario: Path, report: Path, workers: str) -> int:
    import pytest

    autoloaded = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
        ep.name == "hardlab" for ep in entry_points(group="pytest11")
    )
    ini = report.parent / "pytest.ini"
    ini.write_text("[pytest]\naddopts =\n")
    pargs = [
        str(scenario), "-c", str(ini), "--rootdir", str(scenario.parent), "-p", "no:cacheprovider",
        *([] if autoloaded else ["-p", "hardlab.pytest.plugin"]),
        *(["-n", workers] if workers not in {"0", "1"} else []),
        "-q", "--no-header", "-rfE", "--tb=line", f"--hardlab-report={report}",
    ]  # fmt: skip
    return int(pytest.main(pargs))
