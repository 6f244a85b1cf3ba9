"""The engine matrix's one table: case x engine -> verdict, from each engine's summary.json (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHORT = {"passed": "pass", "failed": "FAIL", "skipped": "skip", "error": "ERROR", "xfailed": "xfail"}


@dataclass
class EngineRun:
    """One engine's row of the matrix: how far it got, how long each phase took, what the pack said."""

    name: str
    reason: str = ""  # why the pack did not run on it (a named reason), empty when it ran
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    summary: dict[str, Any] = field(default_factory=dict)  # the pack's summary.json
    notes: tuple[str, ...] = ()
    exit_code: int | None = None

    def verdicts(self) -> dict[str, str]:
        return {r["nodeid"]: SHORT.get(r.get("outcome", ""), r.get("outcome", "?")) for r in self.results()}

    def results(self) -> list[dict[str, Any]]:
        return list(self.summary.get("results") or [])

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for verdict in self.verdicts().values():
            out[verdict] = out.get(verdict, 0) + 1
        return out


def verdict_table(runs: list[EngineRun], only_differences: bool = False) -> str:
    """Rows: every case any engine ran; columns: the engines. `only_differences` keeps the rows where the
    engines disagree or something did not pass."""
    nodeids = sorted({nodeid for run in runs for nodeid in run.verdicts()})
    per_engine = [run.verdicts() for run in runs]
    rows = []
    for nodeid in nodeids:
        cells = [v.get(nodeid, "-") if not run.reason else "n/a" for run, v in zip(runs, per_engine, strict=True)]
        if only_differences and all(c == "pass" for c in cells):
            continue
        rows.append((nodeid, cells))
    width = max([len("case"), *(len(n) for n, _ in rows)]) if rows else len("case")
    col = [max(len(run.name), 5) for run in runs]
    head = f"{'case':<{width}}  " + "  ".join(f"{run.name:<{w}}" for run, w in zip(runs, col, strict=True))
    lines = [head, "-" * len(head)]
    for nodeid, cells in rows:
        lines.append(f"{nodeid:<{width}}  " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, col, strict=True)))
    if only_differences and len(rows) < len(nodeids):
        lines.append(f"({len(nodeids) - len(rows)} cases passed on every engine and are not shown)")
    lines.append("")
    for run in runs:
        if run.reason:
            lines.append(f"{run.name}: did not run the pack: {run.reason}")
        else:
            totals = ", ".join(f"{n} {v}" for v, n in sorted(run.totals().items()))
            lines.append(f"{run.name}: {totals or 'no results'}")
        lines.extend(f"  note: {note}" for note in run.notes)
    return "\n".join(lines)


def phase_table(runs: list[EngineRun]) -> str:
    """Seconds per phase per engine (fetch/prepare, start, images, smoke, pack, stop)."""
    phases: list[str] = []
    for run in runs:
        phases.extend(p for p in run.phases if p not in phases)
    width = max([len("engine"), *(len(run.name) for run in runs)]) + 2
    head = f"{'engine':<{width}}" + "".join(f"{p:>10}" for p in phases) + f"{'total':>10}"
    lines = [head]
    for run in runs:
        cells = "".join(f"{run.phases[p]:>9.1f}s" if p in run.phases else f"{'-':>10}" for p in phases)
        lines.append(f"{run.name:<{width}}{cells}{sum(run.phases.values()):>9.1f}s")
    return "\n".join(lines)


def non_passes(run: EngineRun) -> list[dict[str, Any]]:
    """The records of every case that did not pass on `run` (failed, error, skipped)."""
    return [r for r in run.results() if r.get("outcome") != "passed"]
