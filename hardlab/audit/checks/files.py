"""File checks (CIS section 3, compared as permission bits) and auditd watches (CIS 1.1.3 - 1.1.18)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from hardlab.audit import daemonconf
from hardlab.audit.facts import EngineFacts
from hardlab.audit.model import Outcome
from hardlab.audit.profile import HostProfile


def file_check(role: str, owner: str, groups: tuple[str, ...], mode: int | None) -> Callable[..., Outcome]:
    def run(f: EngineFacts, _: HostProfile) -> Outcome:
        if not f.local:
            return Outcome.missing("local-engine", f"{f.url} is not on this machine: its files cannot be read")
        facts = f.files.get(role)
        if facts is None:
            return Outcome.na(f"no {role} configured for this engine")
        if not facts.exists:
            return Outcome.na(f"{facts.path} does not exist: nothing to protect")
        if mode is None:
            ok, evidence = daemonconf.owner_verdict(facts.user, facts.group, owner, groups)
        else:
            ok, evidence = daemonconf.mode_verdict(facts.mode, mode)
        evidence = f"{facts.path} ({facts.kind}): {evidence}"
        return Outcome.ok(evidence) if ok else Outcome.fail(evidence)

    return run


# ---- auditd (CIS 1.1.3 - 1.1.18) -------------------------------------------------------------------------

AUDIT_PATHS = [
    ("1.1.3", "/usr/bin/dockerd"), ("1.1.4", "/run/containerd"), ("1.1.5", "/var/lib/docker"),
    ("1.1.6", "/etc/docker"), ("1.1.7", "docker.service"), ("1.1.8", "containerd.sock"),
    ("1.1.9", "docker.socket"), ("1.1.10", "/etc/default/docker"), ("1.1.11", "/etc/docker/daemon.json"),
    ("1.1.12", "/etc/containerd/config.toml"), ("1.1.13", "/etc/sysconfig/docker"),
    ("1.1.14", "/usr/bin/containerd"), ("1.1.15", "/usr/bin/containerd-shim"),
    ("1.1.16", "/usr/bin/containerd-shim-runc-v1"), ("1.1.17", "/usr/bin/containerd-shim-runc-v2"),
    ("1.1.18", "/usr/bin/runc"),
]  # fmt: skip


def audit_rule_check(path: str) -> Callable[..., Outcome]:
    def run(f: EngineFacts, _: HostProfile) -> Outcome:
        if not f.local:
            return Outcome.missing("local-engine", f"{f.url} is not on this machine: its audit rules cannot be read")
        facts = f.files.get("audit:" + path)
        real = facts.path if facts else path
        if facts is not None and not facts.exists:
            return Outcome.na(f"{real} does not exist on this host")
        if f.audit_rules is None:
            return Outcome.missing("auditd", f"no audit rules to read ({f.audit_source})")
        hits = [r for r in f.audit_rules if _watches(r, real)]
        if hits:
            return Outcome.ok(f"{f.audit_source}: {hits[0]}")
        return Outcome.fail(f"no audit rule watches {real} ({f.audit_source}, {len(f.audit_rules)} rule(s))")

    return run


def _watches(rule: str, path: str) -> bool:
    parts = rule.split()
    for flag, value in itertools.pairwise(parts):
        if flag == "-w" and value.rstrip("/") == path.rstrip("/"):
            return True
        if flag == "-F" and value in (f"path={path}", f"dir={path}"):
            return True
    return False
