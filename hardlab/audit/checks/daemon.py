"""Daemon configuration checks (CIS section 2), AppArmor (5.2) and client content trust (4.5)."""

from __future__ import annotations

import json

from hardlab.audit import daemonconf
from hardlab.audit.facts import EngineFacts
from hardlab.audit.model import Outcome
from hardlab.audit.profile import HostProfile

BUILTIN_INSECURE = "127.0.0.0/8"  # dockerd always lists loopback as insecure; it is not a configured one


def _sec_evidence(f: EngineFacts) -> str:
    return f"docker info SecurityOptions: {f.security_options or '(none)'}"


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
