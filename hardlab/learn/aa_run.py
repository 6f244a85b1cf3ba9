"""`hardlab learn --lsm apparmor`: record under a complain-mode profile, generate, prove (the engine and
kernel parts; the text is made by aa_log, aa_profile and aa_proof).

Record: load `hardlab-learn-NAME` in complain mode (`apparmor_parser -r`), mark the kernel log, run each
workload as `sh -c CMD`, the main process of a container with `--security-opt apparmor=hardlab-learn-NAME`,
read the `apparmor="ALLOWED"` records since the mark, unload the profile. Generate `NAME.apparmor` (profile
hardlab-NAME), prove it with `NAME.toml` (and the conftest that loads it) through the normal pytest runner;
the proof's results stay in `NAME.proof.json`, and the kernel's DENIED records during the proof are read
back, so a failing workload is told what it was refused.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from hardlab.engine import labels
from hardlab.engine.client import EngineError, connect
from hardlab.engine.lifecycle import run_once
from hardlab.engine.runner import ensure_image
from hardlab.errors import BadInput, HarnessError
from hardlab.learn import aa_log, aa_profile, aa_proof
from hardlab.learn.proof import Workload
from hardlab.system import apparmor, kernlog

# Signs in the kernel log that audit records were dropped (the recording would then be incomplete).
LOST = ("audit_lost=", "backlog limit exceeded", "printk limit exceeded", "callbacks suppressed",
        "kmsg records were overwritten")  # fmt: skip
FLUSH_S = 1.0  # kauditd prints asynchronously: give it a moment after the last container


@dataclass
class AaOptions:
    runs: list[str]
    out: Path
    name: str
    image: str = "lab:tools"
    timeout: float = 60
    workers: str = "0"
    container: dict[str, Any] = field(default_factory=dict)


@dataclass
class AaRecording:
    workloads: list[Workload]
    recorded: aa_log.AaRecorded
    method: str
    seconds: float
    container: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self, image: str) -> str:
        data = {
            "lsm": "apparmor", "method": self.method, "image": image,
            "workloads": [w.__dict__ for w in self.workloads], "recorded": self.recorded.to_json(),
            "seconds": round(self.seconds, 2), "container": self.container, "warnings": self.warnings,
        }  # fmt: skip
        return json.dumps(data, indent=2) + "\n"


@dataclass
class AaProof:
    passed: bool
    totals: dict[str, int]
    failed: list[str]
    denied: list[str]  # the kernel's DENIED records of the profile during the proof, but the probes' own
    seconds: float
    pytest_exit: int


@dataclass
class AaLearned:
    recording: AaRecording
    profile: str
    files: dict[str, Path]
    proof: AaProof


def unavailable() -> str | None:
    """Why this host cannot learn an AppArmor profile, naming the missing feature; None when it can."""
    reason = apparmor.kernel_reason()
    if reason:
        return (f"--lsm apparmor needs a kernel that enforces AppArmor ({apparmor.ENABLED} = Y): {reason}. "
                "Run it in the lab VM: hardlab vm exec python3 -m hardlab.cli learn --lsm apparmor ...")  # fmt: skip
    missing = apparmor.parser_missing_reason()
    if missing:
        return f"--lsm apparmor loads profiles with apparmor_parser: {missing}"
    return None


def paths(out: Path, name: str) -> dict[str, Path]:
    return {
        "profile": out / f"{name}{aa_proof.PROFILE_SUFFIX}", "scenario": out / f"{name}.toml",
        "recording": out / f"{name}.aa-recording.json", "proof": out / f"{name}.proof.json",
        "conftest": out / "conftest.py",
    }  # fmt: skip


def learn(opts: AaOptions, log: TextIO = sys.stderr, run_pytest: Callable[[Path, Path, str], int] | None = None
          ) -> AaLearned:  # fmt: skip
    if not opts.runs:
        raise BadInput("nothing to learn: give the workload with --run CMD or --run-file SCRIPT")
    if not aa_profile.valid_name(opts.name):
        raise BadInput(f"--name {opts.name!r}: an AppArmor profile name needs letters, digits, _ . + - (at most 64)")
    why = unavailable()
    if why:
        raise HarnessError(why)
    client = connect()
    image = ensure_image(client, opts.image)
    rec = record(client, image, opts, log)
    text = aa_profile.generate(opts.name, rec.recorded, [w.command for w in rec.workloads], opts.image)
    files = write(opts, text, rec)
    warm_default(client, image, opts.timeout, log)
    return AaLearned(rec, text, files, prove(files, opts.workers, log, run_pytest))


def warm_default(client: Any, image: str, timeout: float, log: TextIO) -> None:
    """Have the engine load docker-default before the proof when it is not loaded yet (dockerd compiles it
    on the first container that uses it: seconds under TCG, inside the runner's 30 s start bound)."""
    if apparmor.DOCKER_DEFAULT in apparmor.loaded():
        return
    started = time.monotonic()
    try:
        run_once(client, image, ["/bin/true"], labels.for_current_run(), max(timeout, 120))
    except EngineError as exc:
        raise HarnessError(f"a container under the engine's docker-default did not run: {exc}") from exc
    print(f"hardlab learn: the engine loaded docker-default for the controls in {time.monotonic() - started:.1f}s",
          file=log)  # fmt: skip


def record(client: Any, image: str, opts: AaOptions, log: TextIO) -> AaRecording:
    started = time.monotonic()
    learning = aa_profile.learning_name(opts.name)
    workloads: list[Workload] = []
    with tempfile.TemporaryDirectory(prefix="hardlab-aa-learn-") as tmp:
        prof_file = Path(tmp) / learning
        prof_file.write_text(aa_profile.learning_profile(opts.name), encoding="utf-8")
        try:
            apparmor.run_load(prof_file)
        except apparmor.ProfileError as exc:
            raise HarnessError(f"the complain-mode profile did not load: {exc}") from exc
        try:
            with kernlog.unlimited_printk() as limit_kept:
                mark = kernlog.mark()
                try:
                    for cmd in opts.runs:
                        code, said = _run(client, image, cmd, learning, opts)
                        workloads.append(Workload(cmd, code))
                        print(f"hardlab learn: recorded {cmd!r} under {learning} (complain): exit {code}", file=log)
                        if code != 0:
                            print(f"hardlab learn: warning: {cmd!r} exited {code} while recorded; the proof expects "
                                  f"exit {code}. Its stderr ends: {said.strip()[-300:]!r}", file=log)  # fmt: skip
                    time.sleep(FLUSH_S)
                    sources = kernlog.since(mark)
                finally:
                    mark.close()
        finally:
            try:
                apparmor.run_remove(prof_file)
            except apparmor.ProfileError as exc:
                print(f"hardlab learn: warning: could not unload {learning}: {exc}", file=log)
    recorded = aa_log.AaRecorded()
    used = []
    for source, lines in sources.items():
        got = aa_log.parse(lines, learning)
        if got.records:
            used.append(f"{source} ({got.records} records)")
        recorded.merge(got)
    if not recorded.records:
        problems = "; ".join(mark.problems) or f"read {', '.join(sources) or 'no log'}"
        raise HarnessError(f"no apparmor=\"ALLOWED\" records of {learning} in the kernel's audit log since the mark "
                           f"({problems}): is the kernel audit subsystem on (audit=1 or unset)?")  # fmt: skip
    warnings = [limit_kept] if limit_kept else []
    lost = [ln for lines in sources.values() for ln in lines if any(s in ln for s in LOST)]
    if lost:
        warnings.append(f"the kernel dropped audit records while recording ({lost[0].strip()[:160]}): "
                        "the profile may miss accesses; the proof will tell")  # fmt: skip
    method = (f"complain-mode profile {learning} (apparmor_parser -r), each workload in a container with "
              f"--security-opt apparmor={learning}; apparmor=\"ALLOWED\" audit records read since a mark from "
              f"{', '.join(used)}{'' if limit_kept else ', printk rate limit lifted while recording'}")  # fmt: skip
    return AaRecording(workloads, recorded, method, time.monotonic() - started, dict(opts.container), warnings)


def _run(client: Any, image: str, cmd: str, profile: str, opts: AaOptions) -> tuple[int, str]:
    options = {**opts.container, "security_opt": [f"apparmor={profile}"]}
    try:
        code, _, err = run_once(client, image, ["/bin/sh", "-c", cmd], labels.for_current_run(), opts.timeout,
                                **options)  # fmt: skip
    except EngineError as exc:
        raise HarnessError(f"recording {cmd!r} in {image} under {profile}: {exc}") from exc
    return int(code if code is not None else -1), err


def write(opts: AaOptions, text: str, rec: AaRecording) -> dict[str, Path]:
    files = paths(opts.out, opts.name)
    opts.out.mkdir(parents=True, exist_ok=True)
    files["profile"].write_text(text, encoding="utf-8")
    files["recording"].write_text(rec.to_json(opts.image), encoding="utf-8")
    files["conftest"].write_text(aa_proof.CONFTEST, encoding="utf-8")
    proof_text = aa_proof.scenario(opts.name, opts.image, rec.workloads, rec.recorded.execs(), rec.recorded.files,
                                   opts.timeout, rec.container)  # fmt: skip
    files["scenario"].write_text(proof_text, encoding="utf-8")
    return files


def prove(files: Mapping[str, Path], workers: str, log: TextIO,
          run_pytest: Callable[[Path, Path, str], int] | None = None) -> AaProof:  # fmt: skip
    """Load the profile, run the scenario through the normal runner, keep its results, read the refusals."""
    from hardlab.learn.run import _pytest

    started = time.monotonic()
    try:
        names = apparmor.run_load(files["profile"])
    except apparmor.ProfileError as exc:
        raise HarnessError(f"the learned profile did not load: {exc}") from exc
    report = files["proof"]
    report.unlink(missing_ok=True)
    mark = kernlog.mark()
    try:
        with tempfile.TemporaryDirectory(prefix="hardlab-aa-proof-") as tmp:  # the runner writes its ini there
            code = (run_pytest or _pytest)(files["scenario"], Path(tmp) / "summary.json", workers)
            if (Path(tmp) / "summary.json").is_file():
                shutil.copyfile(Path(tmp) / "summary.json", report)
        time.sleep(FLUSH_S)
        lines = [ln for got in kernlog.since(mark).values() for ln in got]
    finally:
        mark.close()
    if not report.is_file():
        raise HarnessError(f"the proof ended without results (pytest exit {code})")
    data = json.loads(report.read_text(encoding="utf-8"))
    results = data.get("results", [])
    failed = [r["nodeid"].split("::")[-1] for r in results if r["outcome"] in {"failed", "error"}]
    probes = (aa_proof.NEVER_WRITTEN, *aa_proof.NEVER_RAN_CANDIDATES)
    denied = [d for d in aa_log.parse(lines, names[0] if names else "", learning=False).denied
              if not any(f" {p} " in f" {d} " for p in probes)]  # fmt: skip
    passed = code == 0 and not failed and bool(results)
    return AaProof(passed, data.get("totals", {}), failed, denied, time.monotonic() - started, code)


def counts(rec: aa_log.AaRecorded) -> dict[str, int]:
    return {"records": rec.records, "paths": len(rec.files), "programs": len(rec.execs()),
            "capabilities": len(rec.capabilities), "network": len(rec.network)}  # fmt: skip


def describe_recording(rec: AaRecording) -> str:
    c = counts(rec.recorded)
    return (f"{c['records']} records in {rec.seconds:.1f}s: {c['paths']} paths ({c['programs']} programs), "
            f"{c['capabilities']} capabilities ({', '.join(sorted(rec.recorded.capabilities)) or 'none'}), "
            f"{c['network']} network ({', '.join(' '.join(n) for n in sorted(rec.recorded.network)) or 'none'})")
