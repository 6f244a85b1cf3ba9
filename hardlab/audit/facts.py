"""What the audit gathers about one engine: docker info, daemon.json and dockerd's flags, host files, running
containers. Filled by hardlab.audit.gather, read by the checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hardlab.audit import daemonconf


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
