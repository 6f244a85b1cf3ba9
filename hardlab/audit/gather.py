"""Gather what the config checks read about one engine: docker info and inspect through the API, and for a
local engine its dockerd process, daemon.json, file owners/modes (testinfra's local backend) and auditd rules."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hardlab.audit import daemonconf
from hardlab.audit.checks.files import AUDIT_PATHS
from hardlab.audit.facts import EngineFacts, FileFacts
from hardlab.audit.targets import Target
from hardlab.engine import inspect, labels
from hardlab.engine.inspect import network_options

SELF_LABEL = "hardlab.audit.self"  # on the one-shot audit container (labs/audit/README.md)
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")


def gather(client: Any, target: Target, own_run: str = "", environ: dict[str, str] | None = None) -> EngineFacts:
    info = client.info()
    facts = EngineFacts(target.label, target.url, target.local, info, client_tls=target.tls)
    facts.bridge_options = network_options(client, "bridge")  # None: an engine started with --bridge none
    facts.containers = running_containers(client, own_run)
    facts.content_trust = content_trust(environ if environ is not None else dict(os.environ))
    if target.local:
        _local(facts, target)
    return facts


def running_containers(client: Any, own_run: str) -> list[dict[str, Any]]:
    """inspect attrs of every running container except the audit's own probes."""

    def ours(lab: dict[str, str]) -> bool:
        # the audit's probes, and the one-shot audit container itself (it needs the socket)
        return bool(own_run and lab.get(labels.RUN) == own_run) or lab.get(SELF_LABEL) == "1"

    return inspect.running_containers(client, ours)


def content_trust(env: dict[str, str]) -> tuple[bool, str]:
    """Whether this host's clients get content trust, read as the docker CLI reads it (audit_checks.client_trust)."""
    from hardlab.audit.checks.trust import client_trust

    try:
        etc = Path("/etc/environment").read_text()
    except OSError:
        etc = None
    found = client_trust(env, etc)
    return found.configured, found.where


def find_dockerd(socket_path: str) -> tuple[int, list[str]] | None:
    """The dockerd process serving `socket_path` (by its -H flags; no -H means the default socket)."""
    want = os.path.realpath(socket_path)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "dockerd":
                continue
            argv = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        args = [a.decode("utf-8", "replace") for a in argv]
        flags = daemonconf.parse_cmdline(args)
        conf_hosts: list[str] = []
        try:
            conf = daemonconf.load(flags.get("config-file", daemonconf.DEFAULT_PATH))
            conf_hosts = list(conf.get("hosts") or [])
        except daemonconf.DaemonConfError:
            pass
        hosts = flags.get("hosts") or conf_hosts or ["unix://" + daemonconf.DEFAULT_SOCKET]
        for h in hosts:
            if h.startswith("unix://") and os.path.realpath(h[len("unix://") :]) == want:
                return int(proc.name), args
            if h.startswith("fd://") and want in (os.path.realpath("/run/docker.sock"),):
                return int(proc.name), args
    return None


def _local(facts: EngineFacts, target: Target) -> None:
    import testinfra

    host = testinfra.get_host("local://")
    found = find_dockerd(target.socket_path)
    if found:
        pid, argv = found
        facts.flags = daemonconf.parse_cmdline(argv)
        facts.cmdline = f"pid {pid}: {' '.join(argv)}"
    else:
        facts.cmdline = f"no dockerd process serves {target.socket_path} on this machine (rootless or in a VM?)"
    conf_path = facts.flags.get("config-file", daemonconf.DEFAULT_PATH)
    try:
        facts.daemon = daemonconf.load(conf_path)
    except daemonconf.DaemonConfError as exc:
        facts.daemon_error = str(exc)
        facts.daemon = daemonconf.DaemonConf(conf_path, True, {})

    def stat(path: str) -> FileFacts:
        f = host.file(path)
        if not f.exists:
            return FileFacts(path, False)
        kind = "socket" if f.is_socket else "directory" if f.is_directory else "file" if f.is_file else "other"
        return FileFacts(path, True, f.user, f.group, f.mode, kind)

    facts.socket_path = target.socket_path
    facts.files["socket"] = stat(target.socket_path)
    facts.files["daemon.json"] = stat(conf_path)
    system_engine = os.path.realpath(conf_path).startswith("/etc/docker/")
    if system_engine:
        # /etc/docker and the systemd units configure the system engine, not an engine with its own config.
        facts.files["/etc/docker"] = stat("/etc/docker")
        for unit in ("docker.service", "docker.socket"):
            facts.files[unit] = stat(_unit_path(unit))
    eff = facts.effective
    for key in ("tlscacert", "tlscert", "tlskey"):
        if eff.get(key):
            facts.files[key] = stat(eff[key])
    for _, path in AUDIT_PATHS:
        facts.files["audit:" + path] = stat(_audit_path(path))
    facts.audit_rules, facts.audit_source = audit_rules()
    seccomp = facts.security("seccomp")
    profile = (seccomp or {}).get("profile", "")
    custom = eff.get("seccomp-profile") or (profile if profile.startswith("/") else "")
    if custom and custom not in ("unconfined", "builtin"):
        try:
            facts.seccomp_profile_text = Path(custom).read_text()
        except OSError:
            facts.seccomp_profile_text = None


def _unit_path(unit: str) -> str:
    return next((f"{d}/{unit}" for d in UNIT_DIRS if Path(f"{d}/{unit}").exists()), f"/lib/systemd/system/{unit}")


def _audit_path(path: str) -> str:
    if path in ("docker.service", "docker.socket"):
        return _unit_path(path)
    if path == "containerd.sock":
        return "/run/containerd/containerd.sock"
    return path


def audit_rules() -> tuple[list[str] | None, str]:
    """Loaded rules from `auditctl -l`, else the rule files; None when there is no auditd to ask."""
    auditctl = shutil.which("auditctl")
    if auditctl:
        done = subprocess.run([auditctl, "-l"], capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            rules = [r for r in done.stdout.splitlines() if r.strip() and not r.startswith("No rules")]
            return rules, "auditctl -l (loaded rules)"
    files = sorted(glob.glob("/etc/audit/rules.d/*.rules"))
    if Path("/etc/audit/audit.rules").is_file():
        files.append("/etc/audit/audit.rules")
    if files:
        rules = []
        for f in files:
            rules += [ln.strip() for ln in Path(f).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        why = "auditctl not installed" if not auditctl else "auditctl -l failed (kernel audit unavailable?)"
        return rules, f"rule files {', '.join(files)} ({why})"
    return None, "auditctl is not installed and /etc/audit has no rule files"
