"""The engine matrix's table: case x engine -> verdict, phases, named reasons."""

from __future__ import annotations

from hardlab.core.matrix_report import EngineRun, non_passes, phase_table, verdict_table


def summary(**outcomes: str) -> dict[str, object]:
    return {"results": [{"nodeid": f"scenarios/s.toml::{case}", "outcome": o} for case, o in outcomes.items()]}


def test_one_row_per_case_one_column_per_engine() -> None:
    old = EngineRun("20.10-runc", summary=summary(mount="passed", process_vm_readv="passed", stime="skipped"))
    new = EngineRun("26.1-runc", summary=summary(mount="passed", process_vm_readv="failed", stime="skipped"))
    crun = EngineRun("26.1-crun", reason="crun 1.8.1 rejects OCI runtime-spec 1.2.0 (containers/crun#1485)")
    text = verdict_table([old, new, crun])
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("scenarios/")}
    assert rows["scenarios/s.toml::mount"] == ["pass", "pass", "n/a"]
    assert rows["scenarios/s.toml::process_vm_readv"] == ["pass", "FAIL", "n/a"]
    assert rows["scenarios/s.toml::stime"] == ["skip", "skip", "n/a"]
    assert "26.1-crun: did not run the pack: crun 1.8.1 rejects OCI runtime-spec 1.2.0" in text
    assert "26.1-runc: 1 FAIL, 1 pass, 1 skip" in text


def test_only_differences_hides_what_passes_everywhere() -> None:
    a = EngineRun("a", summary=summary(mount="passed", bpf="passed"))
    b = EngineRun("b", summary=summary(mount="passed", bpf="failed"))
    text = verdict_table([a, b], only_differences=True)
    assert "::bpf" in text and "::mount" not in text
    assert "(1 cases passed on every engine and are not shown)" in text
    assert [r["nodeid"] for r in non_passes(b)] == ["scenarios/s.toml::bpf"]


def test_a_case_missing_on_one_engine_shows_a_dash_and_notes_are_printed() -> None:
    a = EngineRun("a", summary=summary(mount="passed", extra="error"), notes=("crun runs through a wrapper",))
    b = EngineRun("b", summary=summary(mount="passed"))
    text = verdict_table([a, b])
    assert any(
        line.startswith("scenarios/s.toml::extra") and line.split()[1:] == ["ERROR", "-"] for line in text.splitlines()
    )
    assert "  note: crun runs through a wrapper" in text


def test_phase_times() -> None:
    runs = [EngineRun("26.1-runc", phases={"prepare": 9.5, "start": 1.2, "pack": 55.2}), EngineRun("x", phases={})]
    lines = phase_table(runs).splitlines()
    assert lines[0].split() == ["engine", "prepare", "start", "pack", "total"]
    assert lines[1].split() == ["26.1-runc", "9.5s", "1.2s", "55.2s", "65.9s"]
    assert lines[2].split() == ["x", "-", "-", "-", "0.0s"]
