"""The configuration checks of the host audit, each a pure function of what was gathered about one engine.

Gathering (docker info, network inspect, testinfra file stats, auditd rules, container inspect) lives in
hardlab.audit.gather; here every check turns those facts into an Outcome with its evidence, so each
one is unit-testable and the negative controls exercise exactly this code on a weakened engine.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hardlab.audit import daemonconf
from hardlab.audit.model import Outcome
from hardlab.audit.profile import HostProfile

BUILTIN_INSECURE = "127.0.0.0/8"  # dockerd always lists loopback as insecure; it is not a configured one
SENSITIVE_MOUNTS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


@dataclass(frozen=True)
class FileFacts:
    path: str
    exists: bool
    user: str = ""
    group: str = ""
    mode: int = 0  # permission bits (not a decimal rendering of them)
    kind: str = ""  # file | directory | socket | other


@dataclass
class EngineFacts:
    """Everything the config checks read about one engine."""

    label: str
    url: str
    local: bool  # the engine runs on this machine: its files and process can be read
    info: dict[str, Any]
    bridge_options: dict[str, str] | None = None  # Options of the default "bridge" network
    daemon: daemonconf.DaemonConf | None = None
    daemon_error: str = ""  # daemon.json unusable (dockerd would refuse it)
    flags: dict[str, Any] = field(default_factory=dict)  # dockerd's command line as daemon.json keys
    cmdline: str = ""  # how the process was found, for evidence
    socket_path: str = ""
    files: dict[str, FileFacts] = field(default_factory=dict)  # role -> facts ("socket", "daemon.json", ...)
    audit_rules: list[str] | None = None
    audit_source: str = ""
    containers: list[dict[str, Any]] = field(default_factory=list)  # inspect attrs of running containers
    client_tls: bool = False
    content_trust: tuple[bool, str] = (False, "")
    seccomp_profile_text: str | None = None

    @property
    def effective(self) -> dict[str, Any]:
        base = self.daemon or daemonconf.DaemonConf("", False, {})
        return daemonconf.effective(base, self.flags)

    @property
    def security_options(self) -> list[str]:
        return list(self.info.get("SecurityOptions") or [])

    def security(self, name: str) -> dict[str, str] | None:
        for opt in self.security_options:
            fields = dict(kv.split("=", 1) for kv in opt.split(",") if "=" in kv)
            if fields.get("name", opt) == name:
                return fields
        return None


@dataclass(frozen=True)
class ConfigCheck:
    id: str
    cis: str
    title: str
    kind: str
    remediation: str
    run: Callable[[EngineFacts, HostProfile], Outcome]


def _sec_evidence(f: EngineFacts) -> str:
    return f"docker info SecurityOptions: {f.security_options or '(none)'}"


# ---- daemon configuration (CIS section 2) ------------------------------------------------------------


def icc(f: EngineFacts, _: HostProfile) -> Outcome:
    opts = f.bridge_options
    if opts is None:
        return Outcome.na("the engine has no default 'bridge' network (started with --bridge none?)")
    value = opts.get("com.docker.network.bridge.enable_icc", "true")
    where = f"default bridge network option com.docker.network.bridge.enable_icc={value}"
    conf = f.effective.get("icc")
    if conf is not None:
        where += f"; daemon config icc={json.dumps(conf)}"
    if value == "false":
        return Outcome.ok(where)
    return Outcome.fail(where + ": containers on the default bridge can reach each other on any port")


def insecure_registries(f: EngineFacts, p: HostProfile) -> Outcome:
    reg = f.info.get("RegistryConfig") or {}
    cidrs = [c for c in reg.get("InsecureRegistryCIDRs") or [] if c != BUILTIN_INSECURE]
    names = [n for n, c in (reg.get("IndexConfigs") or {}).items() if not c.get("Secure", True)]
    found = [x for x in [*cidrs, *names] if x not in p.allow_insecure_registries]
    evidence = (f"docker info RegistryConfig: InsecureRegistryCIDRs={reg.get('InsecureRegistryCIDRs')}, "
                f"insecure IndexConfigs={names} ({BUILTIN_INSECURE} is dockerd's built-in default, "
                "not counted)")  # fmt: skip
    if found:
        allowed = f"; profile allows only {list(p.allow_insecure_registries)}" if p.allow_insecure_registries else ""
        return Outcome.fail(f"insecure registries configured: {found}{allowed}", evidence)
    return Outcome.ok(evidence)


def tls_tcp(f: EngineFacts, _: HostProfile) -> Outcome:
    if f.url.startswith("tcp://"):
        if f.client_tls:
            return Outcome.ok(f"reached {f.url} with TLS client verification")
        return Outcome.fail(f"the engine answered plain HTTP at {f.url}: "
                            "anyone who reaches the port is root on the host")  # fmt: skip
    if not f.local:
        scheme = f.url.split(":", 1)[0]
        return Outcome.na(f"reached over {scheme}; the engine's listening sockets cannot be read from here")
    eff = f.effective
    hosts = eff.get("hosts") or []
    tcp = [h for h in hosts if h.startswith("tcp://")]
    if not tcp:
        return Outcome.ok(f"dockerd listens on {hosts or ['unix:// (default)']}: no TCP socket", f.cmdline)
    missing = [k for k in ("tlsverify", "tlscert", "tlskey", "tlscacert") if not eff.get(k)]
    if missing:
        return Outcome.fail(f"dockerd listens on {tcp} without {', '.join(missing)}", f"command line: {f.cmdline}")
    return Outcome.ok(f"dockerd listens on {tcp} with tlsverify and its certificates")


def userns_remap(f: EngineFacts, _: HostProfile) -> Outcome:
    if f.security("userns") is not None:
        remap = f.effective.get("userns-remap")
        return Outcome.ok(_sec_evidence(f) + (f"; userns-remap={remap!r}" if remap else ""))
    return Outcome.missing("userns-remap", _sec_evidence(f) + ": no name=userns (container root is host root)")


def live_restore(f: EngineFacts, _: HostProfile) -> Outcome:
    value = f.info.get("LiveRestoreEnabled")
    if value:
        return Outcome.ok("docker info LiveRestoreEnabled=true")
    return Outcome.fail(f"docker info LiveRestoreEnabled={json.dumps(value)}: a daemon restart stops every container")


def no_new_privileges(f: EngineFacts, _: HostProfile) -> Outcome:
    if f.security("no-new-privileges") is not None:
        return Outcome.ok(_sec_evidence(f))
    conf = f.effective.get("no-new-privileges")
    if conf is True:
        return Outcome.ok(f"daemon config no-new-privileges=true ({f.daemon.path if f.daemon else 'flags'})")
    if not f.local:
        return Outcome.missing("local-engine", _sec_evidence(f) + "; the daemon config of a remote engine cannot be "
                               "read (the behavioural twin decides)")  # fmt: skip
    where = f.daemon.path if f.daemon and f.daemon.present else "no daemon.json"
    return Outcome.fail(f"no-new-privileges is not a daemon default ({where}; flags: {f.cmdline or 'unknown'})",
                        _sec_evidence(f))  # fmt: skip


def seccomp_default(f: EngineFacts, _: HostProfile) -> Outcome:
    sec = f.security("seccomp")
    if sec is None:
        return Outcome.missing("seccomp", _sec_evidence(f) + ": the engine applies no seccomp profile at all")
    profile = sec.get("profile", "default")
    if profile in ("default", "builtin"):
        return Outcome.ok(_sec_evidence(f))
    if profile == "unconfined":
        return Outcome.fail(_sec_evidence(f) + ": containers run without any seccomp filter by default")
    text = f.seccomp_profile_text
    if text is None:
        if f.local:
            return Outcome.error(f"daemon-wide seccomp profile {profile!r} could not be read")
        return Outcome.ok(_sec_evidence(f) + f" (custom profile {profile!r}: the behavioural twin decides)")
    return _judge_custom_seccomp(profile, text, f)


def _judge_custom_seccomp(name: str, text: str, f: EngineFacts) -> Outcome:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Outcome.fail(f"daemon-wide seccomp profile {name} is not JSON: {exc}")
    action = data.get("defaultAction") if isinstance(data, dict) else None
    rules = len(data.get("syscalls") or []) if isinstance(data, dict) else 0
    if action in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"):
        return Outcome.fail(f"daemon-wide seccomp profile {name} has defaultAction {action} with {rules} syscall "
                            "rule(s): every syscall not listed is allowed", _sec_evidence(f))  # fmt: skip
    return Outcome.ok(f"daemon-wide custom seccomp profile {name}: defaultAction {action}, {rules} rule(s)",
                      _sec_evidence(f))  # fmt: skip


def log_driver(f: EngineFacts, p: HostProfile) -> Outcome:
    driver = f.info.get("LoggingDriver")
    evidence = f"docker info LoggingDriver={driver}"
    if not driver or driver == "none":
        return Outcome.fail(evidence + ": container logs are discarded")
    if p.log_drivers and driver not in p.log_drivers:
        return Outcome.fail(evidence + f"; host profile {p.name!r} allows {list(p.log_drivers)}")
    return Outcome.ok(evidence)


def log_level(f: EngineFacts, _: HostProfile) -> Outcome:
    level = f.effective.get("log-level") or "info"
    if level == "info":
        return Outcome.ok(f"log-level {level}")
    return Outcome.fail(f"log-level {level!r} (expected info)")


def experimental(f: EngineFacts, _: HostProfile) -> Outcome:
    value = f.info.get("ExperimentalBuild")
    if value:
        return Outcome.fail("docker info ExperimentalBuild=true")
    return Outcome.ok(f"docker info ExperimentalBuild={json.dumps(value)}")


def apparmor(f: EngineFacts, _: HostProfile) -> Outcome:
    if f.security("apparmor") is not None:
        return Outcome.ok(_sec_evidence(f))
    return Outcome.missing("apparmor", _sec_evidence(f) + ": no name=apparmor (this kernel has no AppArmor)")


def content_trust(f: EngineFacts, _: HostProfile) -> Outcome:
    on, where = f.content_trust
    if on:
        return Outcome.ok(f"DOCKER_CONTENT_TRUST=1 ({where})")
    return Outcome.missing("content-trust", f"DOCKER_CONTENT_TRUST is not 1 ({where}): clients pull unsigned images")


def daemon_json_valid(f: EngineFacts, _: HostProfile) -> Outcome:
    if not f.local:
        return Outcome.missing("local-engine", f"{f.url} is not on this machine: its daemon.json cannot be read")
    if f.daemon_error:
        return Outcome.fail(f.daemon_error, "dockerd refuses to (re)start with this file")
    d = f.daemon
    if d is None or not d.present:
        return Outcome.ok(f"no daemon.json at {d.path if d else daemonconf.DEFAULT_PATH}: dockerd uses its defaults")
    return Outcome.ok(f"{d.path} parses; keys: {', '.join(sorted(d.values)) or '(none)'}")


# ---- content trust by behaviour (CIS 4.5): the verdict on what the docker CLI did ----------------------

REFUSED_UNSIGNED = "No valid trust data for unsigned"


@dataclass(frozen=True)
class ClientTrust:
    """DOCKER_CONTENT_TRUST as this host's clients get it: the raw value (None: set nowhere) and where from."""

    value: str | None
    where: str

    @property
    def configured(self) -> bool:
        # The docker CLI's own rule: any non-empty value except a strconv.ParseBool false turns it on.
        return bool(self.value) and self.value not in {"0", "f", "F", "false", "FALSE", "False"}


def client_trust(env: dict[str, str], etc_environment: str | None) -> ClientTrust:
    """The same reading as the config check (audit_gather.content_trust): the process environment first,
    then /etc/environment (`etc_environment` is its text, None when unreadable)."""
    if env.get("DOCKER_CONTENT_TRUST"):
        value = env["DOCKER_CONTENT_TRUST"]
        return ClientTrust(value, f"DOCKER_CONTENT_TRUST={value} in the audit's environment")
    for line in (etc_environment or "").splitlines():
        key, _, value = line.strip().partition("=")
        if key == "DOCKER_CONTENT_TRUST":
            value = value.strip("\"'")
            return ClientTrust(value, f"/etc/environment sets DOCKER_CONTENT_TRUST={value}")
    return ClientTrust(None, "neither the audit's environment nor /etc/environment sets it")


@dataclass(frozen=True)
class CliRun:
    """One docker CLI command as it ran."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    def quote(self, needle: str = "") -> str:
        """The CLI's own line: the first one naming `needle`, else its last error line (or output line)."""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        hits = [ln for ln in lines if needle and needle in ln]
        errors = [ln for ln in self.stderr.splitlines() if ln.strip()]
        line = hits[0] if hits else (errors[-1].strip() if errors else (lines[-1] if lines else "(no output)"))
        return json.dumps(line[:300])


def trust_pull_verdict(setting: ClientTrust, control: CliRun, case: CliRun, unsigned_digest: str) -> Outcome:
    """CIS 4.5 by behaviour. `control`: the lab's signed tag pulled with the host's setting (must work, else the
    lab proved nothing); `case`: its unsigned tag, which only a client enforcing content trust refuses."""
    how = f"with this host's client setting ({setting.where}) and a fresh DOCKER_CONFIG"
    if control.returncode == 0:
        control_line = f"control: `{control.command}` (signed tag) pulled, exit 0: {control.quote('Digest:')}"
    else:
        return Outcome("broken-control", (
            f"BROKEN CONTROL: `{control.command}` (signed tag) {how} failed, exit {control.returncode}: "
            f"{control.quote()}; the lab proved nothing",
            f"case: `{case.command}` exit {case.returncode}: {case.quote(REFUSED_UNSIGNED)}"))  # fmt: skip
    if case.returncode != 0 and REFUSED_UNSIGNED in case.stderr + case.stdout:
        evidence = [f"`{case.command}` {how} was refused, exit {case.returncode}: {case.quote(REFUSED_UNSIGNED)}",
                    control_line]  # fmt: skip
        if not setting.configured:
            evidence.append(f"note: the config check wants DOCKER_CONTENT_TRUST=1; the CLI also enforces "
                            f"content trust for {setting.value!r}")  # fmt: skip
        return Outcome.ok(*evidence)
    if case.returncode != 0:
        return Outcome.error(f"`{case.command}` {how} failed for another reason, exit {case.returncode}: "
                             f"{case.quote()} (expected the refusal {REFUSED_UNSIGNED!r} or a pull)",
                             control_line)  # fmt: skip
    got = case.quote("Digest:")
    what = "the unsigned image" if unsigned_digest and unsigned_digest in case.stdout else "an image"
    pulled = f"`{case.command}` {how} pulled {what}, exit 0: {got}"
    if setting.configured:
        return Outcome.fail(f"DOCKER_CONTENT_TRUST=1 is configured, yet the CLI pulled an unsigned tag: {pulled}",
                            control_line)  # fmt: skip
    return Outcome.missing("content-trust", f"clients pull unsigned images: {pulled}", control_line)


# ---- files (CIS section 3), compared as permission bits ------------------------------------------------


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


# ---- live containers (CIS section 5, by inspect) -----------------------------------------------------------


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


def _privileged(c: dict[str, Any]) -> str | None:
    return "HostConfig.Privileged=true" if _host(c).get("Privileged") else None


def _mode(field_name: str) -> Callable[[dict[str, Any]], str | None]:
    def judge(c: dict[str, Any]) -> str | None:
        value = _host(c).get(field_name) or ""
        return f"HostConfig.{field_name}={value}" if value == "host" else None

    return judge


def _mounts(c: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(m.get("Source", ""), m.get("Destination", ""), bool(m.get("RW"))) for m in c.get("Mounts") or []
            if m.get("Type") == "bind"]  # fmt: skip


def _sensitive(c: dict[str, Any]) -> str | None:
    hits = []
    for src, dst, rw in _mounts(c):
        norm = src.rstrip("/") or "/"
        if norm in SENSITIVE_MOUNTS or any(norm.startswith(s + "/") for s in SENSITIVE_MOUNTS if s != "/"):
            hits.append(f"{src} -> {dst} ({'rw' if rw else 'ro'})")
    return "host path mounted: " + ", ".join(hits) if hits else None


def _socket(c: dict[str, Any]) -> str | None:
    hits = [f"{src} -> {dst}" for src, dst, _ in _mounts(c) if src.endswith("docker.sock") or src in SOCKETS]
    return "Docker socket mounted: " + ", ".join(hits) if hits else None


def _unconfined(c: dict[str, Any]) -> str | None:
    opts = _host(c).get("SecurityOpt") or []
    return "SecurityOpt seccomp=unconfined" if any(o.replace(":", "=") == "seccomp=unconfined" for o in opts) else None


CHECKS: list[ConfigCheck] = [
    ConfigCheck("daemon.icc", "2.2", "Network traffic is restricted between containers on the default bridge",
                "config", 'Set "icc": false in /etc/docker/daemon.json and restart dockerd; link containers '
                "that must talk through user-defined networks.", icc),
    ConfigCheck("daemon.insecure-registries", "2.5", "Insecure registries are not used", "config",
                "Remove insecure-registries from daemon.json / --insecure-registry; give each registry a "
                "TLS certificate.", insecure_registries),
    ConfigCheck("daemon.tls", "2.7", "TLS authentication is configured for TCP sockets", "config",
                "Listen on tcp:// only with --tlsverify --tlscacert --tlscert --tlskey (or use ssh://).", tls_tcp),
    ConfigCheck("daemon.userns-remap", "2.9", "User namespace support is enabled", "config",
                'Set "userns-remap": "default" in daemon.json (dockerd creates the dockremap user and its '
                "subordinate ids), then restart dockerd.", userns_remap),
    ConfigCheck("daemon.log-driver", "2.13", "Centralized and remote logging is configured", "config",
                'Set "log-driver" (and "log-opts") in daemon.json to a driver your log pipeline collects.',
                log_driver),
    ConfigCheck("daemon.log-level", "2.3", "The logging level is set to 'info'", "config",
                'Remove "log-level" or set it to "info".', log_level),
    ConfigCheck("daemon.no-new-privileges", "2.14", "Containers are restricted from acquiring new privileges",
                "config", 'Set "no-new-privileges": true in daemon.json and restart dockerd.', no_new_privileges),
    ConfigCheck("daemon.live-restore", "2.15", "Live restore is enabled", "config",
                'Set "live-restore": true in daemon.json and reload dockerd (SIGHUP).', live_restore),
    ConfigCheck("daemon.seccomp-profile", "2.17", "The daemon-wide seccomp profile is the default or stricter",
                "config", 'Remove "seccomp-profile" from daemon.json or point it at a profile whose '
                "defaultAction refuses (SCMP_ACT_ERRNO).", seccomp_default),
    ConfigCheck("daemon.experimental", "2.18", "Experimental features are not used in production", "config",
                'Set "experimental": false.', experimental),
    ConfigCheck("daemon.apparmor", "5.2", "The engine confines containers with AppArmor", "config",
                "Boot a kernel with AppArmor enabled (apparmor=1 security=apparmor) and install apparmor; "
                "dockerd then loads docker-default.", apparmor),
    ConfigCheck("client.content-trust", "4.5", "Content trust for Docker is enabled", "config",
                "export DOCKER_CONTENT_TRUST=1 for every shell and service that pulls (e.g. /etc/environment).",
                content_trust),
    ConfigCheck("files.daemon-json-valid", "3.17", "daemon.json is valid (dockerd would start with it)", "files",
                "Fix the reported line: daemon.json is strict JSON (no comments) with typed values.",
                daemon_json_valid),
    ConfigCheck("files.socket-owner", "3.15", "The Docker socket is owned by root:docker", "files",
                "chown root:docker /var/run/docker.sock (set SocketUser/SocketGroup in docker.socket).",
                file_check("socket", "root", ("docker", "root"), None)),
    ConfigCheck("files.socket-mode", "3.16", "The Docker socket mode is 660 or more restrictive", "files",
                "chmod 660 /var/run/docker.sock (SocketMode=0660 in docker.socket).",
                file_check("socket", "root", (), 0o660)),
    ConfigCheck("files.daemon-json-owner", "3.17", "daemon.json is owned by root:root", "files",
                "chown root:root /etc/docker/daemon.json", file_check("daemon.json", "root", ("root",), None)),
    ConfigCheck("files.daemon-json-mode", "3.18", "daemon.json mode is 644 or more restrictive", "files",
                "chmod 644 /etc/docker/daemon.json", file_check("daemon.json", "root", (), 0o644)),
    ConfigCheck("files.etc-docker-owner", "3.5", "/etc/docker is owned by root:root", "files",
                "chown root:root /etc/docker", file_check("/etc/docker", "root", ("root",), None)),
    ConfigCheck("files.etc-docker-mode", "3.6", "/etc/docker mode is 755 or more restrictive", "files",
                "chmod 755 /etc/docker", file_check("/etc/docker", "root", (), 0o755)),
    ConfigCheck("files.docker-service-owner", "3.1", "docker.service is owned by root:root", "files",
                "chown root:root on the docker.service unit file",
                file_check("docker.service", "root", ("root",), None)),
    ConfigCheck("files.docker-service-mode", "3.2", "docker.service mode is 644 or more restrictive", "files",
                "chmod 644 on the docker.service unit file", file_check("docker.service", "root", (), 0o644)),
    ConfigCheck("files.docker-socket-unit-owner", "3.3", "docker.socket is owned by root:root", "files",
                "chown root:root on the docker.socket unit file",
                file_check("docker.socket", "root", ("root",), None)),
    ConfigCheck("files.docker-socket-unit-mode", "3.4", "docker.socket mode is 644 or more restrictive", "files",
                "chmod 644 on the docker.socket unit file", file_check("docker.socket", "root", (), 0o644)),
    ConfigCheck("files.tlscacert-mode", "3.10", "The TLS CA certificate mode is 444 or more restrictive", "files",
                "chmod 444 on the file named by --tlscacert", file_check("tlscacert", "root", (), 0o444)),
    ConfigCheck("files.tlscert-mode", "3.12", "The server certificate mode is 444 or more restrictive", "files",
                "chmod 444 on the file named by --tlscert", file_check("tlscert", "root", (), 0o444)),
    ConfigCheck("files.tlskey-mode", "3.14", "The server key mode is 400", "files",
                "chmod 400 on the file named by --tlskey", file_check("tlskey", "root", (), 0o400)),
    *[
        ConfigCheck(f"auditd.{path.strip('/').replace('/', '-')}", cis, f"auditd watches {path}", "auditd",
                    f"Add '-w {path} -k docker' to /etc/audit/rules.d/docker.rules and run augenrules --load.",
                    audit_rule_check(path))
        for cis, path in AUDIT_PATHS
    ],
    ConfigCheck("runtime.privileged", "5.5", "No running container is privileged", "runtime",
                "Recreate the container without --privileged; grant only the capabilities it needs.",
                runtime_check(_privileged, "run --privileged")),
    ConfigCheck("runtime.sensitive-mounts", "5.6", "No running container mounts sensitive host directories",
                "runtime", "Recreate the container without bind mounts of /, /boot, /dev, /etc, /lib, /proc, /sys, "
                "/usr.", runtime_check(_sensitive, "mount sensitive host paths")),
    ConfigCheck("runtime.host-network", "5.10", "No running container shares the host's network namespace",
                "runtime", "Recreate the container without --network host.",
                runtime_check(_mode("NetworkMode"), "share the host network namespace")),
    ConfigCheck("runtime.host-pid", "5.16", "No running container shares the host's process namespace", "runtime",
                "Recreate the container without --pid host.",
                runtime_check(_mode("PidMode"), "share the host PID namespace")),
    ConfigCheck("runtime.host-ipc", "5.17", "No running container shares the host's IPC namespace", "runtime",
                "Recreate the container without --ipc host.",
                runtime_check(_mode("IpcMode"), "share the host IPC namespace")),
    ConfigCheck("runtime.seccomp-unconfined", "5.22", "No running container disables the default seccomp profile",
                "runtime", "Recreate the container without --security-opt seccomp=unconfined.",
                runtime_check(_unconfined, "run seccomp=unconfined")),
    ConfigCheck("runtime.docker-socket", "5.32", "No running container mounts the Docker socket", "runtime",
                "Recreate the container without -v /var/run/docker.sock; whoever holds the socket is root on the host.",
                runtime_check(_socket, "mount the Docker socket")),
]  # fmt: skip
