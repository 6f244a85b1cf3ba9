"""The run summary: pytest reports (on the xdist controller too) collected into reports/summary.json."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hardlab import __version__
from hardlab.core import records
from hardlab.outcomes import CONTROL_FAILED, HARNESS_ERROR, HOST_FEATURE_MISSING


def skip_reason(report: Any) -> str:
    """Why pytest skipped: the reason alone, without pytest's "Skipped: " prefix or location."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return str(reason).removeprefix("Skipped: ")


class Recorder:
    """Feeds every case's reports into the run summary (on the xdist controller, or the lone process)."""

    def __init__(self, summary: Summary, dirs: set[str]):
        self.summary = summary
        self.dirs = dirs

    def pytest_collectreport(self, report: Any) -> None:
        """A file that could not be collected is an error of the run: in the totals and the summary."""
        if report.failed:
            self.summary.add_collection_error(report)

    def pytest_runtest_logreport(self, report: Any) -> None:
        in_pack = report.nodeid.split("/")[0] in self.dirs
        # xdist's report for a case whose worker died carries none of hardlab's properties: a scenario
        # case is known by its file (given by any path), and a case already recorded keeps being recorded.
        crashed = crashed_worker(report) and report.nodeid.split("::")[0].endswith(".toml")
        ours = any(name == "hardlab" for name, _ in report.user_properties)
        if in_pack or crashed or ours or report.nodeid in self.summary.records:
            self.summary.add(report)


def crashed_worker(report: Any) -> bool:
    """xdist's stand-in report for the case a worker was running when it died (SIGKILL, OOM, segfault)."""
    return report.when == "???" and "crashed while running" in str(report.longrepr or "")


WORKER_DIED = (
    "HARNESS ERROR (not a security finding): the pytest worker running this case died ({detail}); the case "
    "has no verdict, the other cases keep theirs, and the run's sweep removes its containers"
)


class Summary:
    """Collects pytest reports (on the xdist controller too) into reports/summary.json."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.started = time.time()
        self.records: dict[str, dict[str, Any]] = {}

    def remediations(self) -> dict[str, tuple[str, list[str]]]:
        """scenario id -> (its remediation, the cases that failed), for scenarios with a failed case."""
        out: dict[str, tuple[str, list[str]]] = {}
        for rec in sorted(self.records.values(), key=lambda r: r["nodeid"]):
            if rec["outcome"] == "failed" and rec.get("remediation"):
                out.setdefault(rec["scenario"], (rec["remediation"], []))[1].append(rec["case"])
        return out

    def add(self, report: Any) -> None:
        props = dict(report.user_properties)
        rec = self.records.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0})
        rec["duration"] = round(rec["duration"] + report.duration, 3)
        if "hardlab" in props:
            rec.update(json.loads(props["hardlab"]))
        if "hardlab_evidence" in props:
            rec["evidence"] = json.loads(props["hardlab_evidence"])
        if "hardlab_class" in props:
            rec["classification"] = props["hardlab_class"]
        if "hardlab_engine" in props:
            rec["engine"] = props["hardlab_engine"]  # of several engines, the one this case ran on
        if report.when == "call" or report.outcome != "passed":
            if report.skipped:
                rec["outcome"] = "skipped"
                rec["reason"] = skip_reason(report)
                rec.setdefault("classification", HOST_FEATURE_MISSING)
            elif report.failed and crashed_worker(report):
                rec["outcome"] = "error"
                rec["classification"] = HARNESS_ERROR
                rec["message"] = WORKER_DIED.format(detail=str(report.longrepr).splitlines()[0][:300])
                file, _, case = report.nodeid.partition("::")
                rec.setdefault("file", file)
                rec.setdefault("case", case)
            elif report.failed:
                rec["outcome"] = "failed" if report.when == "call" else "error"
                rec.setdefault("classification", HARNESS_ERROR if report.when != "call" else CONTROL_FAILED)
                rec["message"] = str(report.longrepr).splitlines()[0][:500] if report.longrepr else ""
        if report.when == "call" and report.passed:
            rec["outcome"] = "passed"
            rec["classification"] = "ok"

    def add_collection_error(self, report: Any) -> None:
        text = str(report.longrepr or "").strip()
        self.records[report.nodeid or "(collection)"] = {
            "nodeid": report.nodeid or "(collection)",
            "outcome": "error",
            "classification": HARNESS_ERROR,
            "collection_error": True,
            "message": (text.splitlines()[-1] if text else "could not be collected")[:500],
        }

    def write_running(self, path: Path) -> None:
        """Replace a previous run's report at once, so a run killed before its end (SIGKILL) never leaves
        the previous run's results looking like its own: the file says it is unfinished until the end."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "run_id": self.run_id,
            "status": "running",
            "note": "this run has not finished; if it is not running any more, it was killed and has no results",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "totals": {},
            "results": [],
        }
        path.write_text(json.dumps(data, indent=2) + "\n")

    def totals(self) -> dict[str, int]:
        counts = Counter(r["outcome"] for r in self.records.values())
        return {k: counts.get(k, 0) for k in ("passed", "failed", "error", "skipped")}

    def write(self, path: Path, host: dict[str, Any] | None, engines: dict[str, Any] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = (host or {}).get("engine")
        engine = engine if isinstance(engine, dict) else {"server_version": engine}
        data = {
            "schema_version": records.SCHEMA_VERSION,
            "tool": {"name": "hardlab", "version": __version__},
            "engine": {"version": engine.get("server_version"), "api_version": engine.get("api_version"),
                       "runtime": engine.get("runtime"), "runtime_version": engine.get("runtime_version"),
                       "kernel": engine.get("kernel_version")},
            "run_id": self.run_id,
            "status": "complete",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration": round(time.time() - self.started, 2),
            "totals": self.totals(),
            "host": host or {},
            **({"engines": engines} if engines else {}),
            "results": sorted(self.records.values(), key=lambda r: r["nodeid"]),
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")

    def skip_reasons(self) -> Counter[str]:
        return Counter(r.get("reason", "") for r in self.records.values() if r["outcome"] == "skipped")
