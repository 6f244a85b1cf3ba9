"""Optional external scanners (trivy, grype), used only when installed AND able to run without downloading.

Each returns findings normalised to hardlab's Severity so the same klar gate applies; when a backend cannot
run offline, the caller gets a note saying it fell back to the built-in matcher, and why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hardlab.scan.feed import Severity
from hardlab.scan.model import Finding

TIMEOUT_S = 120
BACKENDS = ("builtin", "trivy", "grype", "auto")  # builtin: hardlab's own matcher only


def trivy_offline() -> str | None:
    """None when trivy can scan offline; otherwise why not."""
    if shutil.which("trivy") is None:
        return "trivy is not installed"
    cache = Path(os.environ.get("TRIVY_CACHE_DIR", Path.home() / ".cache" / "trivy"))
    if not (cache / "db" / "trivy.db").is_file():
        return f"trivy has no vulnerability database in {cache}/db and would have to download one"
    return None


def grype_offline() -> str | None:
    if shutil.which("grype") is None:
        return "grype is not installed"
    proc = subprocess.run(["grype", "db", "status"], capture_output=True, text=True, env=_grype_env(), timeout=30)
    if proc.returncode != 0:
        return f"grype has no usable local database ({(proc.stdout + proc.stderr).strip()[:200]})"
    return None


def _grype_env() -> dict[str, str]:
    return {**os.environ, "GRYPE_DB_AUTO_UPDATE": "false", "GRYPE_CHECK_FOR_APP_UPDATE": "false"}


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError:
        return Severity.UNKNOWN


def parse_trivy(report: dict[str, Any]) -> list[Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for result in report.get("Results") or []:
        for v in result.get("Vulnerabilities") or []:
            source = v.get("SrcName") or v.get("PkgName", "")
            key = (v["VulnerabilityID"], source)
            if key in found:
                found[key].packages.append(v.get("PkgName", ""))
                continue
            found[key] = Finding(
                v["VulnerabilityID"],
                source,
                [v.get("PkgName", "")],
                v.get("InstalledVersion", ""),
                v.get("FixedVersion") or None,
                _severity(v.get("Severity", "")),
                v.get("Title", ""),
            )
    return list(found.values())


def parse_grype(report: dict[str, Any]) -> list[Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for m in report.get("matches") or []:
        vuln, art = m.get("vulnerability", {}), m.get("artifact", {})
        upstreams = art.get("upstreams") or []
        source = upstreams[0]["name"] if upstreams else art.get("name", "")
        key = (vuln.get("id", ""), source)
        if key in found:
            found[key].packages.append(art.get("name", ""))
            continue
        fixes = (vuln.get("fix") or {}).get("versions") or []
        found[key] = Finding(
            vuln.get("id", ""),
            source,
            [art.get("name", "")],
            art.get("version", ""),
            fixes[0] if fixes else None,
            _severity(vuln.get("severity", "")),
        )
    return list(found.values())


def _run_json(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return json.loads(proc.stdout)


def run_external(backend: str, target: str, is_rootfs: bool) -> tuple[str, list[Finding] | None, str]:
    """(backend name, findings or None when it fell back, a note for the output)."""
    candidates = ["trivy", "grype"] if backend == "auto" else [backend]
    reasons = []
    for name in candidates:
        why_not = trivy_offline() if name == "trivy" else grype_offline()
        if why_not:
            reasons.append(why_not)
            continue
        try:
            if name == "trivy":
                argv = [
                    "trivy",
                    "rootfs" if is_rootfs else "image",
                    "--skip-db-update",
                    "--skip-java-db-update",
                    "--offline-scan",
                    "--format",
                    "json",
                    "--quiet",
                    target,
                ]
                return name, parse_trivy(_run_json(argv)), "trivy ran offline (--skip-db-update --offline-scan)"
            argv = ["grype", f"dir:{target}" if is_rootfs else f"docker:{target}", "-o", "json"]
            return name, parse_grype(_run_json(argv, _grype_env())), "grype ran offline (GRYPE_DB_AUTO_UPDATE=false)"
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{name} failed: {exc}")
    return backend, None, "fell back to the built-in matcher only: " + "; ".join(reasons)
