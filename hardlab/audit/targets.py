"""Which engines to audit: `--host` values to labelled targets, and a docker-py client for each.

    unix:///var/run/docker.sock       a local socket (host files and the dockerd process are read too)
    tcp://10.0.0.5:2376               TLS when DOCKER_TLS_VERIFY=1 / DOCKER_CERT_PATH (or --tls* per host)
    ssh://ops@builder                 through the ssh client (docker-py use_ssh_client)
    context:NAME  or  NAME            a docker context (resolved with `docker context inspect`)
    LABEL=ANY-OF-THE-ABOVE            the same, reported under LABEL
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardlab.errors import BadInput

DEFAULT_URL = "unix:///var/run/docker.sock"


class TargetError(BadInput):
    """A --host value cannot be used (harness problem, exit 2)."""


@dataclass(frozen=True)
class Target:
    label: str
    url: str
    tls: bool = False
    cert_path: str = ""
    verify: bool = True

    @property
    def local(self) -> bool:
        """A unix socket on this machine: its engine's files and process can be read here."""
        return self.url.startswith("unix://") and Path(self.url[len("unix://") :]).exists()

    @property
    def socket_path(self) -> str:
        return self.url[len("unix://") :] if self.url.startswith("unix://") else ""


def parse(spec: str, env: dict[str, str] | None = None, contexts: Any = None) -> Target:
    """One --host value -> Target. `contexts` resolves a context name (injected for tests)."""
    env = dict(os.environ if env is None else env)
    label = ""
    head, eq, rest = spec.partition("=")
    if eq and "://" not in head and head:
        label, spec = head, rest
    if not spec:
        raise TargetError(f"--host {label}=: empty engine address")
    if spec.startswith(("unix://", "tcp://", "ssh://")):
        url = spec
        tls = spec.startswith("tcp://") and (env.get("DOCKER_TLS_VERIFY", "") not in ("", "0"))
        return Target(label or spec, url, tls, env.get("DOCKER_CERT_PATH", ""), True)
    if "://" in spec:
        raise TargetError(f"--host {spec!r}: unsupported scheme (use unix://, tcp://, ssh:// or a docker context)")
    name = spec.removeprefix("context:")
    resolved = (contexts or inspect_context)(name)
    return Target(label or f"context:{name}", resolved["url"], resolved.get("tls", False),
                  resolved.get("cert_path", ""), not resolved.get("skip_verify", False))  # fmt: skip


def inspect_context(name: str) -> dict[str, Any]:
    docker = shutil.which("docker")
    if docker is None:
        raise TargetError(f"--host context:{name}: no docker CLI to resolve the context")
    done = subprocess.run([docker, "context", "inspect", name], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise TargetError(f"--host context:{name}: {done.stderr.strip() or 'docker context inspect failed'}")
    return context_endpoint(json.loads(done.stdout), name)


def context_endpoint(data: Any, name: str) -> dict[str, Any]:
    """`docker context inspect` JSON -> url/tls/cert_path/skip_verify."""
    if not isinstance(data, list) or not data:
        raise TargetError(f"--host context:{name}: unexpected `docker context inspect` output")
    ctx = data[0]
    endpoint = (ctx.get("Endpoints") or {}).get("docker") or {}
    url = endpoint.get("Host")
    if not url:
        raise TargetError(f"--host context:{name}: the context has no docker endpoint")
    tls_path = ((ctx.get("Storage") or {}).get("TLSPath") or "") + "/docker"
    has_tls = bool(ctx.get("TLSMaterial", {}).get("docker")) and Path(tls_path).is_dir()
    return {"url": url, "tls": has_tls, "cert_path": tls_path if has_tls else "",
            "skip_verify": bool(endpoint.get("SkipTLSVerify"))}  # fmt: skip


def client_for(target: Target, timeout: int = 60) -> Any:
    """A docker-py client for `target` that has answered a ping; raises TargetError otherwise."""
    from hardlab.engine.client import EngineError, connect_to

    tls_dir = (target.cert_path or Path.home() / ".docker") if target.url.startswith("tcp://") and target.tls else None
    try:
        return connect_to(target.url, timeout=timeout, tls_dir=tls_dir, verify=target.verify)
    except EngineError as exc:
        raise TargetError(f"no Docker Engine answers at {target.url}: {exc.__cause__ or exc}") from exc
