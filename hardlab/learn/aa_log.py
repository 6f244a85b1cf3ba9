"""AppArmor audit records -> what a confined workload did (pure).

While recording, the workload runs under a complain-mode profile; the kernel then allows everything and
writes one `apparmor="ALLOWED"` audit record per access the profile's rules do not cover (an empty profile
covers nothing). The records reach the kernel log (`audit: type=1400 audit(...): apparmor="ALLOWED" ...`,
when no auditd runs) or auditd's log (`type=AVC msg=audit(...): apparmor="ALLOWED" ...`): both carry the
same `key=value` fields, which `parse` reads.

In complain mode an exec the profile has no rule for starts a learning child profile,
`PROFILE//null-/usr/bin/nmap`, and the new program's accesses are logged under that name: records of the
profile and of its children all count (the generated profile runs every recorded program with `ix`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# key="quoted value" | key=unquoted (a hex-encoded name for paths with spaces or quotes is unquoted hex).
_FIELD = re.compile(r'(?P<key>[a-z_]+)=(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"]+))')
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
# ALLOWED: what complain mode let through; AUDIT: an access an `audit` rule allows and logs (the execs).
RECORDED = {"ALLOWED", "AUDIT"}
# Mask letters the kernel logs for files -> the profile's permission letters.
_FILE_PERMS = {"r": "r", "w": "w", "a": "a", "c": "w", "d": "w", "m": "m", "l": "l", "k": "k", "x": "x"}
# Operations that name a path (everything else with a name= is mapped by its mask too, when it has one).
_NETWORK_OPS = {
    "create", "post_create", "bind", "connect", "listen", "accept", "sendmsg", "recvmsg", "getsockname",
    "getpeername", "getsockopt", "setsockopt", "socket_shutdown",
}  # fmt: skip


@dataclass
class AaRecorded:
    """What the records of one profile (and its learning children) say the workload did."""

    files: dict[str, set[str]] = field(default_factory=dict)  # path -> permission letters (x = exec)
    capabilities: set[str] = field(default_factory=set)
    network: set[tuple[str, str]] = field(default_factory=set)  # (family, sock_type)
    signals: set[tuple[str, str]] = field(default_factory=set)  # (send|receive, peer)
    ptrace: set[tuple[str, str]] = field(default_factory=set)  # (trace|read|tracedby|readby, peer)
    other: set[str] = field(default_factory=set)  # operations not mapped to a rule (reported, not allowed)
    records: int = 0
    denied: list[str] = field(default_factory=list)  # DENIED records, as one readable line each

    def merge(self, other: AaRecorded) -> None:
        for path, perms in other.files.items():
            self.files.setdefault(path, set()).update(perms)
        self.capabilities |= other.capabilities
        self.network |= other.network
        self.signals |= other.signals
        self.ptrace |= other.ptrace
        self.other |= other.other
        self.records += other.records
        self.denied += other.denied

    def execs(self) -> list[str]:
        return sorted(p for p, perms in self.files.items() if "x" in perms)

    def to_json(self) -> dict[str, object]:
        return {
            "files": {p: "".join(sorted(v)) for p, v in sorted(self.files.items())},
            "capabilities": sorted(self.capabilities),
            "network": [list(n) for n in sorted(self.network)],
            "signals": [list(s) for s in sorted(self.signals)],
            "ptrace": [list(p) for p in sorted(self.ptrace)],
            "other": sorted(self.other),
            "records": self.records,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> AaRecorded:
        files = data.get("files", {})
        assert isinstance(files, dict)
        out = cls({str(p): set(str(v)) for p, v in files.items()})
        out.capabilities = {str(c) for c in _items(data.get("capabilities"))}
        out.network = {(str(a), str(b)) for a, b in _items(data.get("network"))}
        out.signals = {(str(a), str(b)) for a, b in _items(data.get("signals"))}
        out.ptrace = {(str(a), str(b)) for a, b in _items(data.get("ptrace"))}
        out.other = {str(o) for o in _items(data.get("other"))}
        out.records = int(str(data.get("records", 0)))
        return out


def _items(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def fields(line: str) -> dict[str, str]:
    """The `key=value` fields of one audit record; an unquoted hex `name`/`target` is decoded."""
    out: dict[str, str] = {}
    for m in _FIELD.finditer(line):
        key = m["key"]
        if key in out:
            continue
        value = m["quoted"] if m["quoted"] is not None else m["bare"]
        if m["quoted"] is None and key in {"name", "target", "peer", "profile", "comm"} and _HEX.match(value):
            value = bytes.fromhex(value).decode("utf-8", errors="replace")
        out[key] = value
    return out


def belongs(profile: str, name: str) -> bool:
    """A record of `name` itself or of one of its children (`name//null-...`, `name//hat`)."""
    return profile == name or profile.startswith(name + "//")


def parse(lines: Iterable[str], profile: str, learning: bool = True) -> AaRecorded:
    """ALLOWED records (complain mode) of `profile` and its children -> what the workload did. With
    `learning=False` the DENIED records are collected instead, one readable line each (a proof's failure)."""
    out = AaRecorded()
    for line in lines:
        if "apparmor=" not in line:
            continue
        f = fields(line)
        if not belongs(f.get("profile", ""), profile):
            continue
        verdict = f.get("apparmor", "")
        if not learning:
            if verdict == "DENIED":
                out.denied.append(describe(f))
            continue
        if verdict not in RECORDED:
            continue
        out.records += 1
        _add(out, f, profile)
    return out


def describe(f: dict[str, str]) -> str:
    """A DENIED record in one line: `open /etc/shadow (r) by cat`."""
    what = f.get("name") or f.get("capname") or " ".join(x for x in (f.get("family"), f.get("sock_type")) if x)
    mask = f.get("denied_mask") or f.get("requested_mask") or ""
    peer = f" peer={f['peer']}" if f.get("peer") else ""
    return f"{f.get('operation', '?')} {what}{f' ({mask})' if mask else ''}{peer} by {f.get('comm', '?')}"


def _peer(peer: str, profile: str) -> str:
    # The learning profile's children are the profile itself once every exec is `ix`.
    return "@self" if belongs(peer, profile) else peer


def _add(out: AaRecorded, f: dict[str, str], profile: str) -> None:
    op = f.get("operation", "")
    mask = f.get("requested_mask") or f.get("denied_mask") or ""
    if op == "capable" and f.get("capname"):
        out.capabilities.add(f["capname"])
    elif op == "signal":
        for perm in _words(mask):
            out.signals.add((perm, _peer(f.get("peer", "unconfined"), profile)))
    elif op == "ptrace":
        for perm in _words(mask):
            out.ptrace.add((perm, _peer(f.get("peer", "unconfined"), profile)))
    elif f.get("family") and (op in _NETWORK_OPS or "sock_type" in f):
        out.network.add((f["family"], f.get("sock_type", "")))
    elif f.get("name", "").startswith("/"):
        perms = {_FILE_PERMS[c] for c in mask if c in _FILE_PERMS}
        if op == "exec":
            perms.add("x")
        if op == "file_mmap":  # the learning profile's `ix` covers mmap's exec request, so it is never logged
            perms.add("m")
        if perms:
            out.files.setdefault(f["name"], set()).update(perms)
            if op == "link" and f.get("target", "").startswith("/"):
                out.files.setdefault(f["target"], set()).add("l")
        else:
            out.other.add(op)
    else:
        out.other.add(op or "?")


def _words(mask: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", mask) if w]
