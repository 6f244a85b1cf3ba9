"""Points arithmetic and the grade reports: who earns what, pass rates, and stable bytes."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from hardlab.grading.points import grades, junit, student_report, summary_html, to_csv, to_json

COURSE = {"id": "c", "title": "Course <1>"}


def rec(student: str, assignment: str, case: str, points: float, outcome: str, order: int = 0, **extra: str) -> dict:
    return {"student": student, "assignment": assignment, "assignment_title": assignment.upper(), "case": case,
            "title": f"{case} title", "points": points, "outcome": outcome, "order": order, "check_order": 0,
            "hint": f"hint for {case}", "message": extra.get("message", ""),
            "classification": extra.get("c", "")}  # fmt: skip


RECORDS = [
    rec("bob", "a1", "chown", 3, "failed", message="FAILED: chown\n  FAIL exit code: expected 1; observed 0"),
    rec("bob", "a1", "fchownat", 2, "passed"),
    rec("bob", "a2", "parse", 1.5, "skipped", order=1, message="the grading host lacks /usr/sbin/apparmor_parser"),
    rec("alice", "a1", "chown", 3, "passed"),
    rec("alice", "a1", "fchownat", 2, "rejected", message="SUBMISSION REFUSED: alice/p.json at line 3"),
    rec("alice", "a2", "parse", 1.5, "passed", order=1),
    rec("carol", "a1", "chown", 3, "error", message="HARNESS ERROR"),
    rec("carol", "a1", "fchownat", 2, "passed"),
    rec("carol", "a2", "parse", 1.5, "passed", order=1),
]


def by_name(data: dict) -> dict:
    return {s["student"]: s for s in data["students"]}


def test_scores_per_student_and_assignment() -> None:
    data = grades(RECORDS, COURSE)
    students = by_name(data)
    assert [s["student"] for s in data["students"]] == ["alice", "bob", "carol"]
    assert (students["alice"]["score"], students["alice"]["max"]) == (4.5, 6.5)
    # a check the host cannot grade is left out of the maximum, not counted as a failure
    assert (students["bob"]["score"], students["bob"]["max"]) == (2.0, 5.0)
    assert students["bob"]["assignments"][1] == {
        "id": "a2", "title": "A2", "score": 0.0, "max": 0.0,
        "checks": [{"case": "parse", "title": "parse title", "points": 1.5, "earned": 0.0, "outcome": "skipped",
                    "classification": "", "message": "the grading host lacks /usr/sbin/apparmor_parser"}],
    }  # fmt: skip
    # a harness error earns nothing (and the CLI says to regrade)
    assert (students["carol"]["score"], students["carol"]["max"]) == (3.5, 6.5)


def test_failed_checks_carry_hint_and_evidence() -> None:
    check = by_name(grades(RECORDS, COURSE))["bob"]["assignments"][0]["checks"][0]
    assert check["earned"] == 0.0
    assert check["hint"] == "hint for chown"
    assert "expected 1; observed 0" in check["message"]


def test_pass_rates_hardest_first() -> None:
    rates = grades(RECORDS, COURSE)["checks"]
    assert [(r["assignment"], r["case"], r["passed"], r["graded"], r["rate"]) for r in rates] == [
        ("a1", "chown", 1, 3, 0.3333),
        ("a1", "fchownat", 2, 3, 0.6667),
        ("a2", "parse", 2, 2, 1.0),
    ]


def test_same_records_in_any_order_render_the_same_bytes() -> None:
    one = grades(RECORDS, COURSE)
    two = grades(list(reversed(RECORDS)), COURSE)
    assert to_json(one) == to_json(two)
    assert to_csv(one) == to_csv(two)
    assert summary_html(one) == summary_html(two)


def test_csv_rows() -> None:
    lines = to_csv(grades(RECORDS, COURSE)).splitlines()
    assert lines[0] == "student,assignment,check,points,earned,outcome,classification"
    assert "alice,a1,fchownat,2,0,rejected," in lines
    assert "bob,a2,parse,1.5,0,skipped," in lines
    assert len(lines) == 1 + len(RECORDS)
    scores_only = json.loads(to_json(grades(RECORDS, COURSE)))
    assert scores_only["course"] == COURSE
    assert "message" not in scores_only["students"][1]["assignments"][0]["checks"][0]
    with_feedback = json.loads(to_json(grades(RECORDS, COURSE), feedback=True))
    assert with_feedback["students"][1]["assignments"][0]["checks"][0]["hint"] == "hint for chown"


def test_student_report_and_junit() -> None:
    bob = by_name(grades(RECORDS, COURSE))["bob"]
    text = student_report(bob, COURSE)
    assert "**2 / 5 points**" in text
    assert "- [ ] **chown** (0/3) chown title — FAILED" in text
    assert "  - hint: hint for chown" in text
    assert "FAIL exit code: expected 1; observed 0" in text
    assert "- [x] **fchownat** (2/2)" in text
    suite = ET.fromstring(junit(bob))
    counts = (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors"))
    assert counts == ("3", "1", "1", "0")
    failure = suite.find("testcase[@name='chown']/failure")
    assert failure is not None and "hint: hint for chown" in (failure.text or "")


def test_summary_html_escapes_untrusted_text() -> None:
    records = [rec("mallory", "a1", "<script>x</script>", 1, "failed", message="<img src=x onerror=alert(1)>")]
    page = summary_html(grades(records, COURSE))
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "Course &lt;1&gt;" in page
