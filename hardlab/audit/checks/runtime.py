"""Checks of the running containers (CIS section 5), by inspect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hardlab.audit.facts import EngineFacts
from hardlab.audit.model import Outcome
from hardlab.audit.profile import HostProfile

SENSITIVE_MOUNTS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")



def _name(c: dict[str, Any]) -> str:
    return f"{c.get('Name', '').lstrip('/')} ({c.get('Id', '')[:12]}, image {c.get('Config', {}).get('Image')})"


def runtime_check(judge: Callable[[dict[str, Any]], str | None], what: str) -> Callable[..., Outcome]:
    def run(f: EngineFacts, _: HostProfile) -> Outcome:
        bad = []
        for c in f.containers:
            why = judge(c)
            if why:
                bad.append(f"{_name(c)}: {why}")
        if bad:
            return Outcome.fail(f"{len(bad)} of {len(f.containers)} running container(s) {what}", *bad)
        return Outcome.ok(f"none of {len(f.containers)} running container(s) {what}")

    return run


def _host(c: dict[str, Any]) -> dict[str, Any]:
    return c.get("HostConfig") or {}


def privileged(c: dict[str, Any]) -> str | None:
    return "HostConfig.Privileged=true" if _host(c).get("Privileged") else None


def host_mode(field_name: str) -> Callable[[dict[str, Any]], str | None]:
    def judge(c: dict[str, Any]) -> str | None:
        value = _host(c).get(field_name) or ""
        return f"HostConfig.{field_name}={value}" if value == "host" else None

    return judge


def _mounts(c: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(m.get("Source", ""), m.get("Destination", ""), bool(m.get("RW"))) for m in c.get("Mounts") or []
            if m.get("Type") == "bind"]  # fmt: skip


def sensitive_mounts(c: dict[str, Any]) -> str | None:
    hits = []
    for src, dst, rw in _mounts(c):
        norm = src.rstrip("/") or "/"
        if norm in SENSITIVE_MOUNTS or any(norm.startswith(s + "/") for s in SENSITIVE_MOUNTS if s != "/"):
            hits.append(f"{src} -> {dst} ({'rw' if rw else 'ro'})")
    return "host path mounted: " + ", ".join(hits) if hits else None


def docker_socket(c: dict[str, Any]) -> str | None:
    hits = [f"{src} -> {dst}" for src, dst, _ in _mounts(c) if src.endswith("docker.sock") or src in SOCKETS]
    return "Docker socket mounted: " + ", ".join(hits) if hits else None


def seccomp_unconfined(c: dict[str, Any]) -> str | None:
    opts = _host(c).get("SecurityOpt") or []
    return "SecurityOpt seccomp=unconfined" if any(o.replace(":", "=") == "seccomp=unconfined" for o in opts) else None
