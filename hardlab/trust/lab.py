"""Content-trust lab on loopback: a registry, a notary server with TLS from a CA made per run, and the CLI.

Content trust is implemented in the docker CLI (it talks to notary, then asks the engine for a digest), not in
the engine API, so every trust step drives the `docker` command with its own `DOCKER_CONFIG`.

`hardlab trust up` starts a lab and leaves it running (prints the environment to use);
`hardlab trust down [RUN_ID]` stops labs by the PIDs recorded in their state files.
The pytest fixture lives in `fixtures/trust.py` and uses `start_lab()` as a context manager.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hardlab.errors import HarnessError
from hardlab.system.locks import file_lock
from hardlab.trust.placeholders import fill

HOST = "127.0.0.1"
PACKAGES = {"docker-registry": "docker-registry", "notary-server": "notary", "openssl": "openssl"}
BUSYBOX = Path("/bin/busybox")
READY_TIMEOUT_S = 15.0


class TrustUnavailable(HarnessError):
    """The host cannot run the lab (missing binary, not root to install it); the text says which."""


def state_root() -> Path:
    return Path(os.environ.get("HARDLAB_STATE_DIR", "/var/tmp/hardlab")) / "trust"


# --------------------------------------------------------------------------------------------- host tools


def _is_static(binary: Path) -> bool:
    # A dynamic ELF names its loader near the start of the file; a FROM-scratch image has no loader.
    with binary.open("rb") as fh:
        head = fh.read(65536)
    return head.startswith(b"\x7fELF") and b"ld-linux" not in head and b"ld-musl" not in head


def missing_tools() -> list[str]:
    """Debian package names still needed for the lab."""
    need = [pkg for binary, pkg in PACKAGES.items() if shutil.which(binary) is None]
    if not (BUSYBOX.exists() and _is_static(BUSYBOX)):
        need.append("busybox-static")
    return need


def unavailable_reason(install: bool = True) -> str | None:
    """None when the lab can run here (tools present, or root on Debian to install them); else why not.

    For a host probe / `requires = ["trust-lab"]`: it installs nothing itself."""
    if shutil.which("docker") is None:
        return "content-trust lab needs the docker CLI (content trust lives in the CLI)"
    need = missing_tools()
    if need and not (install and os.geteuid() == 0 and shutil.which("apt-get")):
        return f"content-trust lab needs Debian packages {' '.join(need)} and this is not root on Debian"
    return None


def ensure_tools(install: bool = True) -> None:
    """Install Debian's docker-registry/notary/busybox-static when missing (root on Debian only)."""
    need = missing_tools()
    if shutil.which("docker") is None:
        raise TrustUnavailable("content-trust lab needs the docker CLI (content trust lives in the CLI)")
    if not need:
        return
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise TrustUnavailable(
            f"content-trust lab needs Debian packages {' '.join(need)}; not root on Debian, so not "
            f"installing them (run: sudo apt-get install {' '.join(need)})"
        )
    state_root().mkdir(parents=True, exist_ok=True)
    # xdist workers may all get here at once: one installs, the others wait on the lock and re-check.
    with file_lock(state_root() / "apt.lock"):
        need = missing_tools()
        if not need:
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:  # stale package lists on a fresh machine: update once, try again
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise TrustUnavailable(f"apt-get install {' '.join(need)} failed: {proc.stderr.strip()[-400:]}")


# --------------------------------------------------------------------------------------------- TLS + ports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def make_tls(directory: Path, host: str = HOST) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for `host` signed by it: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt, ext = (directory / n for n in ("notary.key", "notary.csr", "notary.crt", "notary.ext"))
    ext.write_text(
        f"subjectAltName=IP:{host},DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    steps = [
        [
            "openssl",
            "req",
            "-x509",
            *ec,
            "-keyout",
            ca_key,
            "-out",
            ca_crt,
            "-days",
            "2",
            "-subj",
            "/CN=hardlab content-trust lab CA",
        ],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={host}"],
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca_crt,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            crt,
            "-days",
            "2",
            "-extfile",
            ext,
        ],
    ]
    for argv in steps:
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"openssl failed ({' '.join(map(str, argv[:3]))}): {proc.stderr.strip()}")
    return ca_crt, crt, key


# --------------------------------------------------------------------------------------------- processes


def _pid_is_ours(pid: int, marker: str) -> bool:
    # PIDs get recycled: only signal a process whose command line still names this lab's state dir.
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def stop_pid(pid: int, marker: str, grace_s: float = 5.0) -> bool:
    """SIGTERM then SIGKILL one process we started; True when it was running."""
    if not _pid_is_ours(pid, marker):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child: reap it so it does not linger as a zombie
                return True
        if not _pid_is_ours(pid, marker):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Own session: a Ctrl-C aimed at pytest does not kill the servers before our cleanup talks to them.
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, ca: Path | None = None) -> None:
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None  # verifies the chain we generated
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}: {log.read_text()[-600:]}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=ctx) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {READY_TIMEOUT_S:.0f}s ({last}); log {log}")


# --------------------------------------------------------------------------------------------- the lab


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
        cli = os.environ.get("HARDLAB_DOCKER_CLI", "docker")  # e.g. /usr/bin/docker to try Debian's 20.10 CLI
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
            port = free_port()
            cfg = self.state_dir / "registry.yml"
            cfg.write_text(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {data}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: {HOST}:{port}\n"
            )
            log = self.state_dir / "registry.log"
            proc = _spawn(["docker-registry", "serve", str(cfg)], log)
            self.pids["registry"] = proc.pid
            self.save()
            try:
                _wait_ready(f"http://{HOST}:{port}/v2/", proc, log)
            except RuntimeError:
                stop_pid(proc.pid, str(self.state_dir))
                continue
            self.registry = f"{HOST}:{port}"
            return
        raise RuntimeError(f"registry did not start, see {self.state_dir / 'registry.log'}")

    def start_notary(self) -> None:
        for _attempt in range(3):
            port = free_port()
            cfg = self.state_dir / "notary-server.json"
            cfg.write_text(
                json.dumps(
                    {
                        "server": {
                            "http_addr": f"{HOST}:{port}",
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
            proc = _spawn(["notary-server", "-config", str(cfg)], log)
            self.pids["notary"] = proc.pid
            self.save()
            try:
                _wait_ready(f"https://{HOST}:{port}/_notary_server/health", proc, log, ca=self.ca)
            except RuntimeError:
                stop_pid(proc.pid, str(self.state_dir))
                continue
            self.notary = f"{HOST}:{port}"
            return
        raise RuntimeError(f"notary-server did not start, see {self.state_dir / 'notary-server.log'}")

    def stop_notary(self) -> None:
        if "notary" in self.pids:
            stop_pid(self.pids.pop("notary"), str(self.state_dir))
            self.save()

    def stop(self, keep_state: bool = False) -> None:
        """Stop both servers by PID, remove the lab's images and (unless kept) its state directory."""
        for name in list(self.pids):
            stop_pid(self.pids.pop(name), str(self.state_dir))
        with contextlib.suppress(Exception):  # an engine that is gone must not hide the real error
            if self.registry:
                self.remove_images()
        if not keep_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


@dataclass
class Pushed:
    ref: str  # repo:tag
    digest: str  # sha256:… as the registry reported it
    output: str  # the push command's stdout + stderr


def push(lab: TrustLab, ref: str, variant: str, signed: bool) -> Pushed:
    """Import a busybox image as `ref` and push it, signed (content trust on) or not."""
    lab.make_image(ref, variant)
    args = ["push", ref] if signed else ["push", "--disable-content-trust", ref]
    proc = lab.docker(*args, trust=signed)
    out = proc.stdout + proc.stderr
    found = _DIGEST.search(out)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {out.strip()}")
    return Pushed(ref, found.group(1), out)


@dataclass
class TrustRepos:
    signed: Pushed  # hardlab/app:signed, pushed with content trust
    unsigned: Pushed  # hardlab/app:unsigned, another image pushed with --disable-content-trust
    no_trust: Pushed  # hardlab/other:latest, a repository that never had trust data

    def placeholders(self, lab: TrustLab) -> dict[str, str]:
        """`${name}` values a scenario step can use."""
        out = {"registry": lab.registry, "notary": lab.notary, "notary_url": lab.notary_url, "run_id": lab.run_id}
        for name in ("signed", "unsigned", "no_trust"):
            pushed: Pushed = getattr(self, name)
            out[f"{name}_ref"] = pushed.ref
            out[f"{name}_repo"] = pushed.ref.rsplit(":", 1)[0]
            out[f"{name}_digest"] = pushed.digest
        return out


def seed(lab: TrustLab) -> TrustRepos:
    """The lab's starting state: a signed tag, an unsigned tag and a repository without trust data."""
    app, other = lab.repo("app"), lab.repo("other")
    return TrustRepos(
        signed=push(lab, f"{app}:signed", "signed", signed=True),
        unsigned=push(lab, f"{app}:unsigned", "unsigned", signed=False),
        no_trust=push(lab, f"{other}:latest", "other", signed=False),
    )


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


# --------------------------------------------------------------------------------------------- CLI


def _print_up(lab: TrustLab) -> None:
    env = lab.env()
    print(f"trust lab {lab.run_id} is up")
    print(
        f"  registry  http://{lab.registry}  (pid {lab.pids['registry']}; plain HTTP: the engine treats "
        "127.0.0.0/8 registries as insecure)"
    )
    print(f"  notary    {lab.notary_url}  (pid {lab.pids['notary']}; TLS from the lab CA {lab.ca})")
    print("  note: for a loopback registry the docker CLI skips the notary certificate check; the CA sits")
    print("        where a real host needs it, but here only hardlab's readiness probe verified it.")
    print(f"  stop with: hardlab trust down {lab.run_id}\n")
    for key in (
        "DOCKER_CONFIG",
        "DOCKER_CONTENT_TRUST",
        "DOCKER_CONTENT_TRUST_SERVER",
        "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
        "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
    ):
        print(f"export {key}={env[key]}")
    print(f"export HARDLAB_REGISTRY={lab.registry}")
    print("# walkthrough: labs/trust/README.md")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hardlab trust", description="content-trust lab on loopback")
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="start a registry and a notary server on 127.0.0.1 (stays running)")
    up.add_argument("--no-install", action="store_true", help="do not apt-get install missing packages")
    down = sub.add_parser("down", help="stop labs started by `up` (all of them without RUN_ID)")
    down.add_argument("run_id", nargs="?")
    sub.add_parser("status", help="list running labs")
    args = parser.parse_args(argv)

    if args.action == "up":
        try:
            lab = launch(new_run_id("up"), install=not args.no_install)
        except TrustUnavailable as exc:
            print(f"hardlab trust: cannot start the lab: {exc}", file=sys.stderr)
            return 2
        except RuntimeError as exc:
            print(f"hardlab trust: {exc}", file=sys.stderr)
            return 1
        # Detached on purpose: the servers outlive this command until `hardlab trust down`.
        _print_up(lab)
        return 0
    labs = running_labs()
    if args.action == "status":
        for lab in labs:
            alive = {n: _pid_is_ours(p, str(lab.state_dir)) for n, p in lab.pids.items()}
            print(f"{lab.run_id}  registry={lab.registry}  notary={lab.notary}  running={alive}")
        if not labs:
            print("no trust lab running")
        return 0
    chosen = [lab for lab in labs if args.run_id in (None, lab.run_id)]
    if args.run_id and not chosen:
        print(f"hardlab trust: no lab {args.run_id!r} under {state_root()}", file=sys.stderr)
        return 1
    for lab in chosen:
        lab.stop()
        print(f"stopped {lab.run_id}")
    return 0
