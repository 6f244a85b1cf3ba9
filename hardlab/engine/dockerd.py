"""An ephemeral second Docker Engine on this machine, for the audit's own tests and negative controls.

It gets its own data root, exec root, PID file, unix socket and its own bridge (`hlbrN`, created here
with an address in 10.213.N.0/24). Never `--bridge none`: a second dockerd started that way deletes
the first engine's docker0. `--iptables=false` keeps it from rewriting the first engine's rules.
It is reaped by its PID file on success, failure and Ctrl-C, and everything it made is removed.

`start` runs the `dockerd` on PATH (this machine's engine) or a given binary, e.g. Debian 13's 26.1.5
fetched by `hardlab.engine.matrix`; `path` puts that release's helpers (docker-proxy) first on its PATH,
while containerd, runc and crun stay this machine's. An OCI runtime other than runc is registered in the
daemon.json (`runtimes`, `default-runtime`): see `runtime_config`.

`tls=True` adds a second listener, tcp://127.0.0.1:PORT with --tlsverify, whose CA, server and client
certificates are made for this engine alone (`hardlab.engine.certs`); `Engine.tcp_url` and
`Engine.client_certs` (a DOCKER_CERT_PATH-style folder) reach it. Loopback only: nothing else can connect.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardlab.engine import certs, labels
from hardlab.errors import HarnessError
from hardlab.system import processes

STATE = Path(tempfile.gettempdir()) / "hardlab-dockerd"  # one folder per engine; short paths (socket < 108 chars)
BRIDGE_PREFIX = "hlbr"
SUBNET = "10.213.{n}.1/24"
ALLOW_ALL_SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}


class DockerdError(HarnessError):
    """The ephemeral engine could not be started (a harness problem)."""


@dataclass
class Engine:
    name: str
    root: Path
    bridge: str
    config: dict[str, Any]
    pid: int = 0
    log: Path = field(default_factory=Path)
    binary: str = "dockerd"
    tcp_port: int = 0  # the tcp+TLS listener on 127.0.0.1 (0: none)

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.tcp_port}" if self.tcp_port else ""

    @property
    def client_certs(self) -> Path:
        """ca.pem, cert.pem and key.pem for a client of the TLS listener."""
        return self.root / "tls" / "client"

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.root / "dockerd.pid"

    @property
    def config_file(self) -> Path:
        return self.root / "daemon.json"

    def client(self, timeout: int = 60) -> Any:
        import docker

        return docker.DockerClient(base_url=self.url, timeout=timeout)

    def tls_client(self, timeout: int = 60) -> Any:
        """A client of the tcp+TLS listener, verified against this engine's own CA."""
        return _tls_client(self, timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _tls_client(engine: Engine, timeout: int) -> Any:
    from hardlab.engine.client import connect_to

    return connect_to(engine.tcp_url, timeout=timeout, tls_dir=engine.client_certs)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def _bridge_slot() -> tuple[int, Any]:
    """A free bridge number N (hlbrN, 10.213.N.0/24), held by an flock until the engine is gone."""
    STATE.mkdir(parents=True, exist_ok=True)
    existing = _run("ip", "-o", "link", "show").stdout
    for n in range(1, 250):
        lock = open(STATE / f"slot-{n}.lock", "w")  # noqa: SIM115 - held for the engine's lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        if f": {BRIDGE_PREFIX}{n}:" in existing or f": {BRIDGE_PREFIX}{n}@" in existing:
            # A bridge left by a run that died: ours by name and prefix, and no live holder of its lock.
            _run("ip", "link", "del", f"{BRIDGE_PREFIX}{n}")
        return n, lock
    raise DockerdError("no free hlbrN bridge slot (1-249)")


def runtime_config(name: str, path: str) -> dict[str, Any]:
    """daemon.json keys that register the OCI runtime `name` at `path` and make it every container's default."""
    return {"runtimes": {name: {"path": path}}, "default-runtime": name}


def start(
    name: str,
    config: dict[str, Any] | None = None,
    timeout: float = 90.0,
    binary: str | None = None,
    path: tuple[str, ...] = (),
    tls: bool = False,
) -> tuple[Engine, Any]:
    """Start dockerd (`binary`, default the one on PATH) with `config` as its daemon.json and the folders
    `path` first on its PATH; `tls` adds a tcp+TLS listener on 127.0.0.1. Returns (engine, slot lock);
    stop() with both."""
    if os.geteuid() != 0:
        raise DockerdError("starting a second dockerd needs root")
    dockerd = binary or shutil.which("dockerd")
    if dockerd is None:
        raise DockerdError("no dockerd binary on PATH (install docker.io: scripts/ensure-engine)")
    if not os.access(dockerd, os.X_OK):
        raise DockerdError(f"{dockerd} is not an executable dockerd")
    sweep_dead()
    n, lock = _bridge_slot()
    root = STATE / f"{n}-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    (root / "exec").mkdir()
    engine = Engine(name, root, f"{BRIDGE_PREFIX}{n}", dict(config or {}), log=root / "dockerd.log", binary=dockerd)
    (root / "owner").write_text(labels.owner())
    try:
        for argv in (
            ("ip", "link", "add", "name", engine.bridge, "type", "bridge"),
            ("ip", "addr", "add", SUBNET.format(n=n), "dev", engine.bridge),
            ("ip", "link", "set", engine.bridge, "up"),
        ):
            done = _run(*argv)
            if done.returncode != 0:
                raise DockerdError(f"{' '.join(argv)}: {done.stderr.strip()}")
        engine.config_file.write_text(json.dumps(engine.config, indent=2) + "\n")
        os.chmod(engine.config_file, 0o644)
        cmd = [
            dockerd, "--config-file", str(engine.config_file), "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--pidfile", str(engine.pidfile), "-H", engine.url,
            "--bridge", engine.bridge, "--iptables=false", "--ip-masq=false",
        ]  # fmt: skip
        if tls:
            server, _ = certs.make(root / "tls")
            engine.tcp_port = _free_port()
            cmd += ["-H", engine.tcp_url, "--tlsverify", "--tlscacert", str(server / "ca.pem"),
                    "--tlscert", str(server / "cert.pem"), "--tlskey", str(server / "key.pem")]  # fmt: skip
        env = dict(os.environ, PATH=os.pathsep.join([*path, os.environ.get("PATH", os.defpath)]))
        with open(engine.log, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        engine.pid = proc.pid
        _wait_ready(engine, proc, timeout)
    except BaseException:
        stop(engine, lock)
        raise
    return engine, lock


def _free_port() -> int:
    """A TCP port free on 127.0.0.1 now (dockerd binds it a moment later; a clash fails its start loudly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(engine: Engine, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import docker.errors
    import requests.exceptions

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DockerdError(f"dockerd {engine.name} exited with {proc.returncode}:\n{engine.log_tail()}")
        if engine.socket.exists():
            try:
                engine.client(timeout=5).ping()
                if engine.tcp_port:
                    _tls_client(engine, timeout=5)  # answers a ping over TLS, or raises
                return
            except (docker.errors.DockerException, requests.exceptions.RequestException, HarnessError):
                pass
        time.sleep(0.3)
    raise DockerdError(
        f"dockerd {engine.name} did not answer on {engine.url} within {timeout:.0f}s:\n{engine.log_tail()}"
    )


def _pid_from_file(pidfile: Path) -> int:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return 0


def stop(engine: Engine, lock: Any = None, grace: float = 20.0) -> None:
    """SIGTERM (dockerd stops its containers and unmounts), then SIGKILL; remove the bridge and the roots."""
    pid = _pid_from_file(engine.pidfile) or engine.pid
    if pid:
        # PID reuse guard: a dockerd whose command line names our data root; SIGKILL takes its children too.
        processes.stop(pid, "dockerd", str(engine.root / "data"), grace_s=grace, group=True)
    _cleanup(engine.root, engine.bridge)
    if lock is not None:
        lock.close()


def _cleanup(root: Path, bridge: str) -> None:
    _run("ip", "link", "del", bridge)
    # Whatever dockerd left mounted under its roots (a SIGKILLed engine leaves overlay and netns mounts).
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        mounts = []
    for mnt in sorted((m for m in mounts if m.startswith(str(root) + "/")), key=len, reverse=True):
        _run("umount", "-l", mnt)
    shutil.rmtree(root, ignore_errors=True)


def sweep_dead() -> int:
    """Reap engines whose owning process died (kill -9 of a test run): by their PID file, then clean up."""
    removed = 0
    if not STATE.is_dir():
        return 0
    for root in STATE.iterdir():
        if not root.is_dir() or not (root / "owner").is_file():
            continue
        if labels.owner_alive((root / "owner").read_text().strip()):
            continue
        n = root.name.split("-", 1)[0]
        engine = Engine("leftover", root, f"{BRIDGE_PREFIX}{n}", {})
        stop(engine)
        removed += 1
    return removed


@contextlib.contextmanager
def running(
    name: str, config: dict[str, Any] | None = None, binary: str | None = None, path: tuple[str, ...] = (),
    tls: bool = False,
) -> Iterator[Engine]:
    """An ephemeral engine for the duration of the block; stopped and removed however the block ends."""
    engine, lock = start(name, config, binary=binary, path=path, tls=tls)
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_DFL, None) and _main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)  # a killed nightly job still reaps its engines
    try:
        yield engine
    finally:
        stop(engine, lock)
        if previous in (signal.SIG_DFL, None) and _main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def seccomp_allow_all(root: Path) -> Path:
    """An allow-all seccomp profile (a deliberately weakened engine's default) written under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "allow-all-seccomp.json"
    path.write_text(json.dumps(ALLOW_ALL_SECCOMP) + "\n")
    return path
