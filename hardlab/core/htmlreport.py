"""One self-contained HTML page per run, rendered from summary.json (or the audit's results.json). Pure.

Rendered by hardlab itself rather than allure: one file a student opens from disk, offline, with no
generator to install and no JavaScript needed to read it; it shows hardlab's own vocabulary (verdict and
classification first, control vs case run, expected vs observed) instead of a generic test tree.
"""

from __future__ import annotations

import html
import json
from typing import Any

_ORDER = {"failed": 0, "error": 1, "skipped": 2, "passed": 3, "not-applicable": 4}
_VERDICT = {"failed": "FAILED", "error": "ERROR", "skipped": "SKIPPED", "passed": "HELD", "not-applicable": "N/A"}

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin:0}
.case{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:.6em 1em}
.verdict{font-weight:bold;padding:.1em .5em;border-radius:4px;color:#fff;margin-right:.5em}
.failed .verdict{background:#c0392b}.error .verdict{background:#8e44ad}.skipped .verdict{background:#7f8c8d}
.passed .verdict{background:#27ae60}.not-applicable .verdict{background:#95a5a6}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;white-space:pre-wrap;margin:.3em 0}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
.fail{color:#c0392b;font-weight:bold}.ok{color:#27ae60}.meta{color:#555}details{margin:.3em 0}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _options(options: Any) -> str:
    if not options:
        return "<em>engine defaults</em>"
    return f"<code>{_e(json.dumps(options, sort_keys=True))}</code>"


def _step(ev: dict[str, Any]) -> str:
    if ev.get("step") == "start" and "start_error" in ev:
        return f"<p class='fail'>container did not start: {_e(ev['start_error'])}</p>"
    rows = "".join(
        f"<tr><td class='{'ok' if c.get('ok') else 'fail'}'>{'ok' if c.get('ok') else 'FAIL'}</td>"
        f"<td>{_e(c.get('what'))}</td><td>expected: {_e(c.get('expected'))}</td>"
        f"<td>observed: {_e(c.get('observed'))}</td></tr>"
        for c in ev.get("checks", [])
    )
    out = f"<pre>$ {_e(ev.get('command'))}\n{_e(ev.get('stdout'))}{_e(ev.get('stderr'))}</pre>"
    return (f"<div class='step'><b>{_e(ev.get('run'))} run, step '{_e(ev.get('step'))}'</b> "
            f"<span class='meta'>exit {_e(ev.get('exit_code'))}, {_e(ev.get('duration'))} s, container "
            f"{_e(ev.get('container'))}</span><table>{rows}</table>"
            f"<details><summary>command and output</summary>{out}</details></div>")  # fmt: skip


def _case(r: dict[str, Any]) -> str:
    outcome = str(r.get("outcome", "passed"))
    cis = ", ".join(f"<a href='{_e(c.get('url'))}'>CIS {_e(c.get('id'))}</a>" for c in r.get("cis") or [])
    where = f"{_e(r.get('file'))}:{_e(r.get('line'))}" if r.get("file") else _e(r.get("nodeid"))
    parts = [
        f"<div class='case {_e(outcome)}' id='{_e(r.get('nodeid'))}'>",
        f"<h2><span class='verdict'>{_VERDICT.get(outcome, outcome.upper())}</span>"
        f"{_e(r.get('title') or r.get('case'))}</h2><p class='meta'>{_e(r.get('scenario'))} / {_e(r.get('case'))}"
        f" — {where}"
        f" — {_e(r.get('classification') or 'ok')} — {_e(r.get('duration'))} s{' — ' + cis if cis else ''}</p>",
    ]  # fmt: skip
    if r.get("reason"):
        parts.append(f"<p><b>skipped because:</b> {_e(r['reason'])}</p>")
    if r.get("message") and outcome != "passed":
        parts.append(f"<pre>{_e(r['message'])}</pre>")
    if r.get("host"):
        parts.append(f"<p>host: {_e(r['host'])}</p>")
    if "image" in r:
        parts.append(f"<p>image <code>{_e(r.get('image'))}</code>; container options {_options(r.get('container'))}"
                     + (f"; control run {_options(r.get('control_container'))}" if r.get("control_container") else "")
                     + "</p>")  # fmt: skip
    parts += [_step(ev) for ev in r.get("evidence") or [] if isinstance(ev, dict)]
    parts += [f"<pre>{_e(line)}</pre>" for line in r.get("evidence") or [] if isinstance(line, str)]
    if r.get("remediation") and outcome in ("failed", "error"):
        parts.append(f"<p><b>remediation:</b> {_e(r['remediation'])}</p>")
    parts.append("</div>")
    return "".join(parts)


def render(data: dict[str, Any], title: str = "hardlab run") -> str:
    """The page: totals, engine facts, then every case with its verdict first, findings at the top."""
    results = sorted(data.get("results") or [],
                     key=lambda r: (_ORDER.get(str(r.get("outcome")), 9), r.get("nodeid", "")))
    totals = data.get("totals") or {}
    tool = data.get("tool") or {}
    engine = data.get("engine") or {}
    facts = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in engine.items() if v is not None)
    host_engine = (data.get("host") or {}).get("engine")
    if isinstance(host_engine, dict):
        facts += "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in host_engine.items()
                         if k not in engine and k != "engine_caps_source")  # fmt: skip
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{_e(title)} {_e(data.get('run_id'))}</h1>"
            f"<p class='meta'>{_e(tool.get('name', 'hardlab'))} {_e(tool.get('version'))}, started "
            f"{_e(data.get('started') or data.get('time'))}, {_e(data.get('duration'))} s; schema "
            f"{_e(data.get('schema_version'))}</p>"
            f"<p><b>{', '.join(f'{_e(n)} {_e(k)}' for k, n in totals.items())}</b></p>"
            f"<details><summary>engine facts</summary><table>{facts}</table></details>")  # fmt: skip
    return head + "".join(_case(r) for r in results) + "</body></html>\n"
