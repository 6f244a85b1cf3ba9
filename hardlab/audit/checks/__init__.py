"""The configuration checks of the host audit, each a pure function of what was gathered about one engine.

Gathering (docker info, network inspect, testinfra file stats, auditd rules, container inspect) lives in
hardlab.audit.gather; here every check turns those facts into an Outcome with its evidence, so each
one is unit-testable and the negative controls exercise exactly this code on a weakened engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hardlab.audit.checks.daemon import (
    apparmor,
    content_trust,
    daemon_json_valid,
    experimental,
    icc,
    insecure_registries,
    live_restore,
    log_driver,
    log_level,
    no_new_privileges,
    seccomp_default,
    tls_tcp,
    userns_remap,
)
from hardlab.audit.checks.files import AUDIT_PATHS, audit_rule_check, file_check
from hardlab.audit.checks.runtime import (
    docker_socket,
    host_mode,
    privileged,
    runtime_check,
    seccomp_unconfined,
    sensitive_mounts,
)
from hardlab.audit.checks.trust import ClientTrust, CliRun, client_trust, trust_pull_verdict
from hardlab.audit.facts import EngineFacts, FileFacts
from hardlab.audit.model import Outcome
from hardlab.audit.profile import HostProfile


@dataclass(frozen=True)
class ConfigCheck:
    id: str
    cis: str
    title: str
    kind: str
    remediation: str
    run: Callable[[EngineFacts, HostProfile], Outcome]


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
                runtime_check(privileged, "run --privileged")),
    ConfigCheck("runtime.sensitive-mounts", "5.6", "No running container mounts sensitive host directories",
                "runtime", "Recreate the container without bind mounts of /, /boot, /dev, /etc, /lib, /proc, /sys, "
                "/usr.", runtime_check(sensitive_mounts, "mount sensitive host paths")),
    ConfigCheck("runtime.host-network", "5.10", "No running container shares the host's network namespace",
                "runtime", "Recreate the container without --network host.",
                runtime_check(host_mode("NetworkMode"), "share the host network namespace")),
    ConfigCheck("runtime.host-pid", "5.16", "No running container shares the host's process namespace", "runtime",
                "Recreate the container without --pid host.",
                runtime_check(host_mode("PidMode"), "share the host PID namespace")),
    ConfigCheck("runtime.host-ipc", "5.17", "No running container shares the host's IPC namespace", "runtime",
                "Recreate the container without --ipc host.",
                runtime_check(host_mode("IpcMode"), "share the host IPC namespace")),
    ConfigCheck("runtime.seccomp-unconfined", "5.22", "No running container disables the default seccomp profile",
                "runtime", "Recreate the container without --security-opt seccomp=unconfined.",
                runtime_check(seccomp_unconfined, "run seccomp=unconfined")),
    ConfigCheck("runtime.docker-socket", "5.32", "No running container mounts the Docker socket", "runtime",
                "Recreate the container without -v /var/run/docker.sock; whoever holds the socket is root on the host.",
                runtime_check(docker_socket, "mount the Docker socket")),
]  # fmt: skip

__all__ = [
    "AUDIT_PATHS", "CHECKS", "CliRun", "ClientTrust", "ConfigCheck", "EngineFacts", "FileFacts", "client_trust",
    "trust_pull_verdict",
]  # fmt: skip
