"""Content-trust lab on loopback: a registry and a notary server with TLS from a CA made per run.

Content trust is implemented in the docker CLI (it talks to notary, then asks the engine for a digest), not in
the engine API, so every trust step drives the `docker` command with its own `DOCKER_CONFIG`.

`launch()` starts a lab and records it in a state file, so another process can stop it by its PIDs
(`hardlab trust up | down`); `start_lab()` is the same as a context manager (the pytest fixtures in
`hardlab.pytest.trustlab` use it). The images the lab pushes are in `hardlab.trust.repos`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hardlab import config
from hardlab.system import processes
from hardlab.system.labtools import BUSYBOX
from hardlab.trust import servers
from hardlab.trust.placeholders import fill
from hardlab.trust.tls import make_tls
from hardlab.trust.tools import ensure_tools


def state_root() -> Path:
    return config.state_dir() / "trust"


@dataclass
class TrustLab:
    """One running lab: addresses, files and the PIDs to stop."""

    run_id: str
    state_dir: Path
    registry: str = ""  # host:port, plain HTTP on loopback
    notary: str = ""  # host:port, HTTPS with the lab CA
    ca: Path = Path()
    docker_config: Path = Path()
    root_passphrase: str = field(default_factory=lambda: secrets.token_hex(12))
    repo_passphrase: str = field(default_factory=lambda: secrets.token_hex(12))
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def notary_url(self) -> str:
        return f"https://{self.notary}"

    def repo(self, name: str) -> str:
        return f"{self.registry}/hardlab/{name}"

    # ---- state file, so `hardlab trust down` in another process can stop what `up` started
    def save(self) -> None:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        (self.state_dir / "lab.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> TrustLab:
        data = json.loads((state_dir / "lab.json").read_text())
        for key in ("state_dir", "ca", "docker_config"):
            data[key] = Path(data[key])
        return cls(**data)

    # ---- client side
    def new_docker_config(self, name: str) -> Path:
        """A DOCKER_CONFIG that knows the CA and nothing else: a machine that never saw any trust data."""
        cfg = self.state_dir / "clients" / name
        tls = cfg / "tls" / self.notary
        tls.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ca, tls / "ca.crt")
        (cfg / "config.json").write_text("{}\n")
        return cfg

    def env(self, trust: bool = True, docker_config: Path | None = None) -> dict[str, str]:
        passed = {"PATH", "HOME", "LANG", "TMPDIR", "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}
        keep = {k: v for k, v in os.environ.items() if k in passed}  # nothing else leaks into the lab's CLI
        return {
            **keep,
            "DOCKER_CONFIG": str(docker_config or self.docker_config),
            "DOCKER_CONTENT_TRUST": "1" if trust else "0",
            "DOCKER_CONTENT_TRUST_SERVER": self.notary_url,
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": self.root_passphrase,
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": self.repo_passphrase,
        }

    def docker(
        self, *args: str, trust: bool = True, docker_config: Path | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI with this lab's environment; never raises on a non-zero exit."""
        cli = config.env("HARDLAB_DOCKER_CLI") or "docker"  # e.g. /usr/bin/docker to try Debian's 20.10 CLI
        env = self.env(trust, docker_config)
        return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=timeout)

    def run_step(
        self, argv: list[str], values: dict[str, str], trust: bool = True, client: str = "default", timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """A scenario's CLI step: `${name}` placeholders filled from `values`; `client` names the machine:
        "default" (the one that pushed), "fresh" (a new DOCKER_CONFIG each time: no cached trust data)
        or any other name (a DOCKER_CONFIG kept under that name for the lab's lifetime)."""
        filled = [fill(arg, values) for arg in argv]
        if filled[:1] == ["docker"]:
            filled = filled[1:]
        if client == "default":
            config = self.docker_config
        elif client == "fresh":
            config = self.new_docker_config(f"fresh-{secrets.token_hex(4)}")
        else:
            existing = self.state_dir / "clients" / client
            config = existing if existing.is_dir() else self.new_docker_config(client)
        return self.docker(*filled, trust=trust, docker_config=config, timeout=timeout)

    def make_image(self, ref: str, variant: str) -> str:
        """Import a tiny busybox image (no FROM, so no trust check at build time) tagged `ref`; its id."""
        root = self.state_dir / "images" / variant
        (root / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy(BUSYBOX, root / "bin" / "busybox")
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / "hardlab-variant").write_text(f"{variant}\n")  # different variants, different digests
        tar = root.with_suffix(".tar")
        with tarfile.open(tar, "w") as tf:
            tf.add(root, arcname=".")
        proc = self.docker(
            "import",
            "--change",
            'CMD ["/bin/busybox", "cat", "/etc/hardlab-variant"]',
            "--change",
            f"LABEL hardlab=1 hardlab.run={self.run_id}",
            str(tar),
            ref,
            trust=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"docker import {ref} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def remove_images(self) -> None:
        """Remove every local image of this lab's registry and every image labelled with this run."""
        listing = self.docker("images", "--no-trunc", "--format", "{{.Repository}} {{.ID}}", trust=False)
        mine = [line for line in listing.stdout.splitlines() if line.startswith(self.registry + "/")]
        ids = {line.split()[1] for line in mine}
        labelled = self.docker(
            "images", "-q", "--no-trunc", "--filter", f"label=hardlab.run={self.run_id}", trust=False
        )
        ids |= set(labelled.stdout.split())
        # A parent image cannot go while a child built FROM it exists (build labs): retry what is left.
        for _attempt in range(3):
            if not ids:
                break
            self.docker("rmi", "-f", *sorted(ids), trust=False)
            left = self.docker("images", "-q", "--no-trunc", trust=False).stdout.split()
            ids &= set(left)

    # ---- server side
    def start_registry(self) -> None:
        data = self.state_dir / "registry-data"
        for _attempt in range(3):  # another run may grab the free port between probe and bind
            port = servers.free_port()
            cfg = self.state_dir / "registry.yml"
            cfg.write_text(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {data}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {servers.HOST}:{port}\n"
            )
            log = self.state_dir / "registry.log"
            proc = servers.spawn(["docker-registry", "serve", str(cfg)], log)
            self.pids["registry"] = proc.pid
            self.save()
            try:
                servers.wait_ready(f"http://{servers.HOST}:{port}/v2/", proc, log)
            except RuntimeError:
                processes.stop(proc.pid, str(self.state_dir))
                continue
            self.registry = f"{servers.HOST}:{port}"
            return
        raise RuntimeError(f"registry did not start, see {self.state_dir / 'registry.log'}")

    def start_notary(self) -> None:
        for _attempt in range(3):
            port = servers.free_port()
            cfg = self.state_dir / "notary-server.json"
            cfg.write_text(
                json.dumps(
                    {
                        "server": {
                            "http_addr": f"{servers.HOST}:{port}",
                            "tls_cert_file": str(self.state_dir / "tls/notary.crt"),
                            "tls_key_file": str(self.state_dir / "tls/notary.key"),
                        },
                        # local trust service + memory storage: no notary-signer, no database. Wiped on restart.
                        "trust_service": {"type": "local", "key_algorithm": "ecdsa"},
                        "storage": {"backend": "memory"},
                        "logging": {"level": "warn"},
                    },
                    indent=2,
                )
            )
            log = self.state_dir / "notary-server.log"
            proc = servers.spawn(["notary-server", "-config", str(cfg)], log)
            self.pids["notary"] = proc.pid
            self.save()
            try:
                servers.wait_ready(f"https://{servers.HOST}:{port}/_notary_server/health", proc, log, ca=self.ca)
            except RuntimeError:
                processes.stop(proc.pid, str(self.state_dir))
                continue
            self.notary = f"{servers.HOST}:{port}"
            return
        raise RuntimeError(f"notary-server did not start, see {self.state_dir / 'notary-server.log'}")

    def stop_notary(self) -> None:
        if "notary" in self.pids:
            processes.stop(self.pids.pop("notary"), str(self.state_dir))
            self.save()

    def stop(self, keep_state: bool = False) -> None:
        """Stop both servers by PID, remove the lab's images and (unless kept) its state directory."""
        for name in list(self.pids):
            processes.stop(self.pids.pop(name), str(self.state_dir))
        with contextlib.suppress(Exception):  # an engine that is gone must not hide the real error
            if self.registry:
                self.remove_images()
        if not keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def new_run_id(owner: str | None = None) -> str:
    """`trust-<owner pid>-<hex>`; `trust up` uses owner "up" so no sweep stops a lab handed to a user."""
    return f"trust-{owner or os.getpid()}-{secrets.token_hex(3)}"


def launch(run_id: str | None = None, install: bool = True) -> TrustLab:
    """Start registry + notary; on any failure (or Ctrl-C) stop what already started, then re-raise."""
    ensure_tools(install=install)
    run_id = run_id or new_run_id()
    state_dir = state_root() / run_id
    state_dir.mkdir(parents=True, exist_ok=False)
    lab = TrustLab(run_id=run_id, state_dir=state_dir)
    try:
        lab.ca, _, _ = make_tls(state_dir / "tls")
        lab.start_registry()
        lab.start_notary()
        # Fresh client config with the CA where the CLI looks for it: $DOCKER_CONFIG/tls/<host:port>/ca.crt.
        lab.docker_config = lab.new_docker_config("default")
        lab.save()
    except BaseException:
        lab.stop()
        raise
    return lab


@contextlib.contextmanager
def start_lab(run_id: str | None = None, install: bool = True) -> Iterator[TrustLab]:
    """The lab for one block of code; stopped on success, failure and Ctrl-C alike."""
    lab = launch(run_id, install)
    try:
        yield lab
    finally:
        lab.stop()


def running_labs() -> list[TrustLab]:
    labs = []
    for state in sorted(state_root().glob("*/lab.json")):
        with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
            labs.append(TrustLab.load(state.parent))
    return labs


def sweep_dead() -> list[str]:
    """Stop labs whose owning process (encoded in the run id `trust-<pid>-…`) is gone; returns their ids."""
    swept = []
    for lab in running_labs():
        parts = lab.run_id.split("-")
        owner = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if owner is not None and not Path(f"/proc/{owner}").exists():
            lab.stop()
            swept.append(lab.run_id)
    return swept
