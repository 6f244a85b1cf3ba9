"""SARIF 2.1.0 for code-scanning UIs: each finding a result pointing at its TOML line (or image). Pure.

One builder for every mode: `run` (from summary.json), `audit` and `scan` hand it plain findings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardlab import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
INFO_URI = "https://github.com/hardlab/hardlab"
_LEVEL = {"failed": "error", "error": "warning"}  # a harness error is not a finding: shown, never as an error


@dataclass(frozen=True)
class Finding:
    """One SARIF result: a rule (scenario::case, CIS check, advisory), what went wrong and where."""

    rule: str
    title: str
    message: str
    level: str = "error"
    file: str = ""  # repo-relative path; "" when the finding has no file (an image, an engine setting)
    line: int | None = None
    logical: str = ""  # what it is about when there is no file: an image, a host
    help: str = ""
    properties: dict[str, Any] | None = None


def document(findings: list[Finding], tool: str = "hardlab") -> dict[str, Any]:
    """A SARIF log with one run: the rules seen, one result per finding."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in findings:
        rules.setdefault(f.rule, {"id": f.rule, "shortDescription": {"text": f.title or f.rule},
                                  **({"help": {"text": f.help}} if f.help else {})})  # fmt: skip
        result: dict[str, Any] = {"ruleId": f.rule, "ruleIndex": list(rules).index(f.rule), "level": f.level,
                                  "message": {"text": f.message or f.title or f.rule}}  # fmt: skip
        location: dict[str, Any] = {}
        if f.file:
            region = {"startLine": max(1, f.line or 1)}
            location["physicalLocation"] = {"artifactLocation": {"uri": f.file, "uriBaseId": "SRCROOT"},
                                            "region": region}  # fmt: skip
        if f.logical:
            location["logicalLocations"] = [{"name": f.logical, "kind": "resource"}]
        if location:
            result["locations"] = [location]
        if f.properties:
            result["properties"] = f.properties
        results.append(result)
    driver = {"name": tool, "version": __version__, "semanticVersion": __version__, "informationUri": INFO_URI,
              "rules": list(rules.values())}  # fmt: skip
    return {"$schema": SCHEMA, "version": VERSION,
            "runs": [{"tool": {"driver": driver}, "results": results, "columnKind": "unicodeCodePoints"}]}  # fmt: skip


def from_summary(data: dict[str, Any]) -> dict[str, Any]:
    """`hardlab run`'s findings (failed cases) and harness errors from summary.json, at their TOML line."""
    return document(findings_from_summary(data))


def findings_from_summary(data: dict[str, Any]) -> list[Finding]:
    """summary.json's failed cases (errors) and harness errors (warnings), each at its TOML line."""
    findings = []
    for r in data.get("results", []):
        level = _LEVEL.get(str(r.get("outcome")))
        if level is None:
            continue
        rule = f"{r.get('scenario') or r['nodeid'].split('::')[0]}/{r.get('case') or r['nodeid'].split('::')[-1]}"
        cis = [c["id"] for c in r.get("cis", []) if isinstance(c, dict)]
        findings.append(Finding(
            rule=rule, title=str(r.get("title", "")), level=level,
            message=f"[{r.get('classification', '')}] {r.get('title', '')}: {r.get('message', '')}".strip(),
            file=str(r.get("file") or r["nodeid"].split("::")[0]), line=r.get("line"),
            help=str(r.get("remediation") or ""),
            properties={"classification": r.get("classification", ""), "cis": cis, "nodeid": r["nodeid"]}))  # fmt: skip
    return findings


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path
