"""The audit's outputs in reports/audit/: JSON (one record per check), JUnit, allure-results with history
carried over from the previous night, a small history JSON with a per-check trend, and a text summary
short enough for a mail or chat message. Every output separates findings from environment trouble."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from hardlab import __version__
from hardlab.audit.model import (
    ENVIRONMENT,
    ERROR,
    FAILED,
    FINDINGS,
    NOT_APPLICABLE,
    PASSED,
    SKIPPED,
    Result,
    by_class,
    totals,
)
from hardlab.core import records

HISTORY_RUNS = 14  # trend length kept per check
_TREND_MARK = {PASSED: "P", FAILED: "F", SKIPPED: "S", ERROR: "E", NOT_APPLICABLE: "-"}


def write_all(out: Path, results: list[Result], meta: dict[str, Any], harness: list[str]) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    history = update_history(out / "history.json", results, meta)
    paths = {
        "json": write_json(out / "results.json", results, meta, harness),
        "junit": write_junit(out / "junit.xml", results, harness),
        "allure": write_allure(out / "allure-results", results, meta, out / "allure-report" / "history"),
        "history": out / "history.json",
    }
    text = summary_text(results, meta, harness, history)
    (out / "summary.txt").write_text(text + "\n")
    paths["summary"] = out / "summary.txt"
    return paths


def write_json(path: Path, results: list[Result], meta: dict[str, Any], harness: list[str]) -> Path:
    data = {
        # the run summary's schema (schema_version, tool, results with outcome, classification, cis) plus
        # the audit's own keys: hosts, profile, findings, harness_problems, per-host results
        "schema_version": records.SCHEMA_VERSION,
        "tool": {"name": "hardlab audit", "version": __version__},
        **meta,
        "totals": totals(results),
        "classifications": by_class(results),
        "findings": sum(r.classification in FINDINGS for r in results),
        "harness_problems": harness,
        "results": [summary_record(r) for r in results],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def summary_record(r: Result) -> dict[str, Any]:
    """One check as a summary.json record (nodeid, scenario, case, outcome, classification, cis) with the
    audit's own fields kept."""
    scenario, case = junit_names(r.check)
    return {**r.to_dict(), "nodeid": f"{r.host}::{r.check}", "scenario": scenario, "case": case,
            "outcome": r.status, "classification": r.classification or "ok", "cis_text": r.cis,
            "cis": records.cis([f"CIS Docker Benchmark {r.cis}"]) if r.cis else []}  # fmt: skip


def write_junit(path: Path, results: list[Result], harness: list[str]) -> Path:
    suites = ET.Element("testsuites", name="hardlab audit")
    for host in sorted({r.host for r in results}):
        mine = [r for r in results if r.host == host]
        t = totals(mine)
        suite = ET.SubElement(suites, "testsuite", name=f"host-audit[{host}]", tests=str(len(mine)),
                              failures=str(t[FAILED]), errors=str(t[ERROR]),
                              skipped=str(t[SKIPPED] + t[NOT_APPLICABLE]),
                              time=f"{sum(r.duration for r in mine):.3f}")  # fmt: skip
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="hardlab.version", value=__version__)
        for r in mine:
            classname, name = junit_names(r.check)
            case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{r.duration:.3f}")
            # junit-10.xsd allows no properties in a testcase: what they said heads system-out instead
            about = [f"host: {r.host}", f"cis: {r.cis or '-'}", f"title: {r.title}",
                     f"classification: {r.classification or 'ok'}", f"remediation: {r.remediation}", ""]  # fmt: skip
            body = "\n".join(r.evidence)
            first = f"[{r.classification}] {r.title}: {r.evidence[0] if r.evidence else ''}"[:500]
            if r.status == FAILED:
                ET.SubElement(case, "failure", message=first, type=r.classification).text = (
                    body + f"\n\nremediation: {r.remediation}")
            elif r.status == ERROR:
                ET.SubElement(case, "error", message=first, type=r.classification).text = body
            elif r.status in (SKIPPED, NOT_APPLICABLE):
                ET.SubElement(case, "skipped", message=first, type=r.classification).text = body
            ET.SubElement(case, "system-out").text = "\n".join(about) + body
    if harness:
        suite = ET.SubElement(suites, "testsuite", name="host-audit[harness]", tests=str(len(harness)),
                              failures="0", errors=str(len(harness)), skipped="0", time="0")  # fmt: skip
        for i, problem in enumerate(harness):
            case = ET.SubElement(suite, "testcase", classname="harness", name=f"harness-{i}")
            ET.SubElement(case, "error", message=problem[:500], type="environment").text = problem
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path


def junit_names(check: str) -> tuple[str, str]:
    """The naming every mode's JUnit uses: classname the scenario (or check group), name the case.

    `behaviour.seccomp-default/keyctl-blocked` -> (seccomp-default, keyctl-blocked); `daemon.icc` -> (daemon, icc)."""
    if check.startswith("behaviour.") and "/" in check:
        scenario, _, case = check.removeprefix("behaviour.").partition("/")
        return scenario, case
    group, _, name = check.partition(".")
    return (group, name) if name else ("host-audit", group)


def history_id(r: Result) -> str:
    return hashlib.md5(f"{r.host}::{r.check}".encode()).hexdigest()


_ALLURE_STATUS = {PASSED: "passed", FAILED: "failed", ERROR: "broken", SKIPPED: "skipped", NOT_APPLICABLE: "skipped"}

CATEGORIES = [
    {"name": "Findings: a control did not hold", "matchedStatuses": ["failed"],
     "messageRegex": r".*\[(control-failed|required-feature-missing)\].*"},
    {"name": "Strict mode: skip or waiver counted as failure", "matchedStatuses": ["failed"],
     "messageRegex": r".*\[(host-feature-missing|waived)\].*"},
    {"name": "Environment (not a finding): engine timeout, harness error", "matchedStatuses": ["broken"],
     "messageRegex": r".*\[environment\].*", "flaky": True},
    {"name": "Broken control (the check proved nothing)", "matchedStatuses": ["broken"],
     "messageRegex": r".*\[broken-control\].*"},
    {"name": "Host feature missing (reasoned skip)", "matchedStatuses": ["skipped"],
     "messageRegex": r".*\[host-feature-missing\].*"},
]  # fmt: skip


def write_allure(folder: Path, results: list[Result], meta: dict[str, Any], previous_history: Path) -> Path:
    """allure-results for tonight; the previous report's history/ is copied in so `allure generate` shows
    each check's trend across nights (allure keys its history by historyId)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if previous_history.is_dir():
        shutil.copytree(previous_history, folder / "history")
    start_ms = int(meta.get("started", time.time()) * 1000)
    for r in results:
        uid = str(uuid.uuid4())
        attach = f"{uid}-evidence.txt"
        (folder / attach).write_text("\n".join(r.evidence) + f"\n\nremediation: {r.remediation}\n")
        message = f"[{r.classification or 'passed'}] {r.evidence[0] if r.evidence else ''}"
        data = {
            "uuid": uid,
            "historyId": history_id(r),
            "testCaseId": hashlib.md5(r.check.encode()).hexdigest(),
            "name": f"[{r.host}] CIS {r.cis or '-'} {r.title}",
            "fullName": f"host-audit.{r.host}.{r.check}",
            "status": _ALLURE_STATUS[r.status],
            # only environment trouble may be flaky: a host that lacks a feature lacks it every night
            "statusDetails": {"message": message, "trace": "\n".join(r.evidence),
                              "flaky": r.classification == ENVIRONMENT},
            "stage": "finished",
            "description": f"{r.title}\n\nRemediation: {r.remediation}",
            "start": start_ms,
            "stop": start_ms + int(r.duration * 1000),
            "labels": [
                {"name": "parentSuite", "value": "host-audit"},
                {"name": "suite", "value": r.host},
                {"name": "subSuite", "value": r.kind},
                {"name": "feature", "value": f"CIS {r.cis.split('.')[0] if r.cis else '-'}"},
                {"name": "host", "value": r.host},
                {"name": "tag", "value": r.classification or "passed"},
                {"name": "framework", "value": "hardlab-audit"},
            ],
            "parameters": [{"name": "host", "value": r.host}],
            "attachments": [{"name": "evidence", "source": attach, "type": "text/plain"}],
        }
        (folder / f"{uid}-result.json").write_text(json.dumps(data, indent=1))
    (folder / "categories.json").write_text(json.dumps(CATEGORIES, indent=1))
    env = {f"host.{k}": v for k, v in (meta.get("hosts") or {}).items()}
    env.update({"profile": meta.get("profile", {}).get("name", ""), "strict": meta.get("strict"),
                "run": meta.get("run_id")})  # fmt: skip
    (folder / "environment.properties").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return folder


def update_history(path: Path, results: list[Result], meta: dict[str, Any]) -> dict[str, Any]:
    """Our own small history (works without the allure CLI): last runs' totals and a trend per check."""
    try:
        history = json.loads(path.read_text())
        if not isinstance(history, dict):
            raise ValueError
    except (OSError, ValueError):
        history = {}
    runs = list(history.get("runs") or [])
    runs.append({"run_id": meta.get("run_id"), "time": meta.get("time"), "totals": totals(results),
                 "findings": sum(r.classification in FINDINGS for r in results)})  # fmt: skip
    checks: dict[str, Any] = dict(history.get("checks") or {})
    for r in results:
        entry = checks.get(r.key) or {"host": r.host, "check": r.check, "cis": r.cis, "trend": []}
        entry["trend"] = [*entry["trend"], {"run_id": meta.get("run_id"), "status": r.status,
                                            "classification": r.classification}][-HISTORY_RUNS:]  # fmt: skip
        entry["title"] = r.title
        checks[r.key] = entry
    history = {"runs": runs[-HISTORY_RUNS:], "checks": checks}
    path.write_text(json.dumps(history, indent=1) + "\n")
    return history


def trend(entry: dict[str, Any]) -> str:
    return "".join(_TREND_MARK.get(t["status"], "?") for t in entry.get("trend", []))


def changes(history: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(newly failing, newly fixed) check keys between the last two runs."""
    new, fixed = [], []
    for key, entry in history.get("checks", {}).items():
        t = entry.get("trend", [])
        if len(t) >= 2:
            if t[-1]["status"] == FAILED and t[-2]["status"] != FAILED:
                new.append(key)
            elif t[-2]["status"] == FAILED and t[-1]["status"] != FAILED:
                fixed.append(key)
    return sorted(new), sorted(fixed)


def summary_text(results: list[Result], meta: dict[str, Any], harness: list[str], history: dict[str, Any]) -> str:
    """A few lines for mail/chat: verdict, per-host counts, findings first, then environment trouble."""
    t = totals(results)
    findings = [r for r in results if r.status == FAILED]
    env = [r for r in results if r.status == ERROR]
    verdict = ("HARNESS PROBLEM (audit incomplete)" if harness or env else
               "FINDINGS" if findings else "OK")  # fmt: skip
    lines = [f"hardlab audit {meta.get('time', '')}: {verdict} — profile {meta.get('profile', {}).get('name')}"
             f"{' (strict)' if meta.get('strict') else ''}"]  # fmt: skip
    for host in sorted({r.host for r in results}):
        mine = totals([r for r in results if r.host == host])
        lines.append(f"  {host}: {mine[PASSED]} passed, {mine[FAILED]} failed, {mine[SKIPPED]} skipped, "
                     f"{mine[ERROR]} env errors, {mine[NOT_APPLICABLE]} n/a")  # fmt: skip
    for problem in harness:
        lines.append(f"  HARNESS: {problem.splitlines()[0][:200]}")
    if findings:
        lines.append(f"findings ({len(findings)}):")
        for r in findings[:20]:
            lines.append(f"  FAIL [{r.host}] CIS {r.cis or '-'} {r.check} ({r.classification}): "
                         f"{(r.evidence[0] if r.evidence else '')[:160]}")  # fmt: skip
        if len(findings) > 20:
            lines.append(f"  … and {len(findings) - 20} more (results.json)")
    if env:
        lines.append(f"environment, not findings ({len(env)}):")
        for r in env[:10]:
            first = (r.evidence[0] if r.evidence else "")[:160]
            lines.append(f"  ERR  [{r.host}] {r.check} ({r.classification}): {first}")
    skipped = [r for r in results if r.status == SKIPPED]
    if skipped:
        feats = sorted({f"{r.feature or r.classification}" for r in skipped})
        lines.append(f"skipped ({len(skipped)}, not passes): missing/waived {', '.join(feats)}")
    new, fixed = changes(history)
    if new:
        lines.append("newly failing since last run: " + ", ".join(new[:10]))
    if fixed:
        lines.append("fixed since last run: " + ", ".join(fixed[:10]))
    lines.append(f"totals: {t[PASSED]} passed, {t[FAILED]} failed, {t[SKIPPED]} skipped, {t[ERROR]} errors, "
                 f"{t[NOT_APPLICABLE]} n/a; run {meta.get('run_id')}")  # fmt: skip
    return "\n".join(lines)
