"""Points and the grade reports: CSV, JSON, per-student feedback and JUnit, a class summary in HTML.
Pure: records in, text out (no pytest, no docker). Nothing here depends on time or run ids, so the same
outcomes always render the same bytes.

A record is one graded check: student, assignment, case, points, outcome, message, hint. Outcomes:
passed (earns the points), failed / rejected / error (earn nothing), skipped (not graded on this host:
left out of the maximum, and said so).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import defaultdict
from typing import Any
from xml.etree import ElementTree as ET

from hardlab import __version__
from hardlab.grading.model import points_sum

EARNS = {"passed"}
NOT_GRADED = {"skipped"}
LABEL = {"passed": "passed", "failed": "FAILED", "rejected": "REFUSED", "error": "ERROR", "skipped": "not graded"}


def earned(record: dict[str, Any]) -> float:
    return float(record["points"]) if record["outcome"] in EARNS else 0.0


def grades(records: list[dict[str, Any]], course: dict[str, Any]) -> dict[str, Any]:
    """The whole class as nested data: students -> assignments -> checks, with totals."""
    by_student: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    titles: dict[str, str] = {}
    for rec in sorted(records, key=_order):
        by_student[rec["student"]][rec["assignment"]].append(rec)
        titles[rec["assignment"]] = rec.get("assignment_title", rec["assignment"])
    students = []
    for student in sorted(by_student):
        assignments = []
        for aid, recs in by_student[student].items():
            graded = [r for r in recs if r["outcome"] not in NOT_GRADED]
            assignments.append({
                "id": aid,
                "title": titles[aid],
                "score": points_sum(earned(r) for r in recs),
                "max": points_sum(r["points"] for r in graded),
                "checks": [_check(r) for r in recs],
            })  # fmt: skip
        entry = {
            "student": student,
            "score": points_sum(a["score"] for a in assignments),
            "max": points_sum(a["max"] for a in assignments),
            "assignments": assignments,
        }  # fmt: skip
        engines = sorted({str(r["engine"]) for recs in by_student[student].values() for r in recs if r.get("engine")})
        if engines:  # graded on several engines: which one produced this student's results (one, by design)
            entry["engine"] = ", ".join(engines)
        students.append(entry)
    return {"course": course, "students": students, "checks": pass_rates(records)}


def _order(rec: dict[str, Any]) -> tuple[Any, ...]:
    return (rec["student"], rec.get("order", 0), rec["assignment"], rec.get("check_order", 0), rec["case"])


def _check(rec: dict[str, Any]) -> dict[str, Any]:
    out = {
        "case": rec["case"],
        "title": rec.get("title", rec["case"]),
        "points": float(rec["points"]),
        "earned": earned(rec),
        "outcome": rec["outcome"],
    }
    if rec["outcome"] != "passed":
        out["classification"] = rec.get("classification", "")
        out["message"] = rec.get("message", "")
        if rec["outcome"] not in NOT_GRADED:
            out["hint"] = rec.get("hint", "")
    return out


def pass_rates(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per check: how many students passed it, of those graded; hardest first."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in sorted(records, key=_order):
        row = table.setdefault((rec["assignment"], rec["case"]), {
            "assignment": rec["assignment"], "case": rec["case"], "title": rec.get("title", rec["case"]),
            "points": float(rec["points"]), "passed": 0, "graded": 0, "not_graded": 0,
        })  # fmt: skip
        if rec["outcome"] in NOT_GRADED:
            row["not_graded"] += 1
            continue
        row["graded"] += 1
        row["passed"] += rec["outcome"] in EARNS
    rows = list(table.values())
    for row in rows:
        row["rate"] = round(row["passed"] / row["graded"], 4) if row["graded"] else None
    return sorted(rows, key=lambda r: (r["rate"] if r["rate"] is not None else 2.0, r["assignment"], r["case"]))


FEEDBACK_KEYS = {"message", "hint"}
RUN_KEYS = {"engine"}  # which engine graded a student: in the feedback, never in the scores' bytes


def to_json(data: dict[str, Any], feedback: bool = False) -> str:
    """Scores only (the same submissions give the same bytes), or with each failure's feedback, whose
    observed output can hold times and ids."""
    if not feedback:
        data = {**data, "students": [
            {**{k: v for k, v in st.items() if k not in RUN_KEYS}, "assignments": [
                {**a, "checks": [{k: v for k, v in c.items() if k not in FEEDBACK_KEYS} for c in a["checks"]]}
                for a in st["assignments"]]}
            for st in data["students"]]}  # fmt: skip
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "assignment", "check", "points", "earned", "outcome", "classification"])
    for st in data["students"]:
        for a in st["assignments"]:
            for c in a["checks"]:
                writer.writerow([st["student"], a["id"], c["case"], _num(c["points"]), _num(c["earned"]),
                                 c["outcome"], c.get("classification", "")])  # fmt: skip
    return out.getvalue()


def _num(value: float) -> str:
    return f"{value:g}"


def student_report(student: dict[str, Any], course: dict[str, Any]) -> str:
    """Markdown feedback a student can act on: each check, and for a failure what was expected vs observed."""
    lines = [f"# {student['student']}: {course.get('title', '')}", "",
             f"**{_num(student['score'])} / {_num(student['max'])} points**", ""]  # fmt: skip
    if student.get("engine"):
        lines += [f"graded on engine {student['engine']}", ""]
    for a in student["assignments"]:
        lines += [f"## {a['id']} — {a['title']}: {_num(a['score'])} / {_num(a['max'])}", ""]
        for c in a["checks"]:
            box = "x" if c["outcome"] == "passed" else " "
            lines.append(f"- [{box}] **{c['case']}** ({_num(c['earned'])}/{_num(c['points'])}) {c['title']} — "
                         f"{LABEL.get(c['outcome'], c['outcome'])}")  # fmt: skip
            if c["outcome"] == "passed":
                continue
            if c.get("hint"):
                lines.append(f"  - hint: {c['hint']}")
            if c.get("message"):
                lines += ["", "  ```text", *("  " + ln for ln in c["message"].rstrip().splitlines()), "  ```", ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def junit(student: dict[str, Any]) -> str:
    """One JUnit testsuite per student, a testcase per check (CI dashboards read it)."""
    checks = [(a, c) for a in student["assignments"] for c in a["checks"]]
    suite = ET.Element("testsuite", {
        "name": student["student"],
        "tests": str(len(checks)),
        "failures": str(sum(c["outcome"] in {"failed", "rejected"} for _, c in checks)),
        "errors": str(sum(c["outcome"] == "error" for _, c in checks)),
        "skipped": str(sum(c["outcome"] in NOT_GRADED for _, c in checks)),
    })  # fmt: skip
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "score", "value": _num(student["score"])})
    ET.SubElement(props, "property", {"name": "max", "value": _num(student["max"])})
    ET.SubElement(props, "property", {"name": "hardlab.version", "value": __version__})
    if student.get("engine"):
        ET.SubElement(props, "property", {"name": "hardlab.engine", "value": student["engine"]})
    for a, c in checks:
        # the naming every mode's JUnit uses: classname the assignment (its scenario), name the case; the
        # student is the suite
        case = ET.SubElement(suite, "testcase", {"classname": a["id"], "name": c["case"]})
        message = c.get("message", "")
        first = message.splitlines()[0] if message else c["outcome"]
        if c["outcome"] in {"failed", "rejected"}:
            node = ET.SubElement(case, "failure", {"message": first[:300]})
            node.text = message + (f"\n\nhint: {c['hint']}" if c.get("hint") else "")
        elif c["outcome"] == "error":
            node = ET.SubElement(case, "error", {"message": first[:300]})
            node.text = message
        elif c["outcome"] in NOT_GRADED:
            ET.SubElement(case, "skipped", {"message": first[:300]})
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def summary_html(data: dict[str, Any]) -> str:
    """The class at a glance: per-check pass rates (hardest first) and every student's score."""
    e = html.escape
    course = data["course"]
    rows = []
    for r in data["checks"]:
        rate = "not graded" if r["rate"] is None else f"{r['rate'] * 100:.0f}%"
        width = 0 if r["rate"] is None else round(r["rate"] * 100)
        rows.append(f"<tr><td>{e(r['assignment'])}</td><td>{e(r['case'])}</td><td>{e(r['title'])}</td>"
                    f"<td class=n>{_num(r['points'])}</td><td class=n>{r['passed']}/{r['graded']}</td>"
                    f"<td><div class=bar><span style='width:{width}%'></span></div> {rate}</td></tr>")  # fmt: skip
    aids = [a["id"] for a in data["students"][0]["assignments"]] if data["students"] else []
    srows = []
    spread = any(st.get("engine") for st in data["students"])
    for st in data["students"]:
        cells = "".join(f"<td class=n>{_num(a['score'])}/{_num(a['max'])}</td>" for a in st["assignments"])
        engine = f"<td>{e(st.get('engine', ''))}</td>" if spread else ""
        srows.append(f"<tr><td><a href='students/{e(st['student'])}.md'>{e(st['student'])}</a></td>{cells}"
                     f"<td class=n><b>{_num(st['score'])}/{_num(st['max'])}</b></td>{engine}</tr>")  # fmt: skip
    head = "".join(f"<th>{e(a)}</th>" for a in aids) + ("<th>total</th><th>engine</th>" if spread else "<th>total</th>")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(course.get('title', ''))}: grades</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}td.n{{text-align:right}}
.bar{{display:inline-block;width:120px;height:10px;background:#eee}}
.bar span{{display:block;height:10px;background:#4a4}}
</style></head><body>
<h1>{e(course.get('title', ''))}</h1>
<p>{len(data['students'])} student(s). Checks ordered hardest first.</p>
<h2>Per-check pass rates</h2>
<table><tr><th>assignment</th><th>check</th><th>what it proves</th><th>points</th><th>passed</th><th>rate</th></tr>
{''.join(rows)}
</table>
<h2>Students</h2>
<table><tr><th>student</th>{head}</tr>
{''.join(srows)}
</table>
</body></html>
"""
