"""A throwaway TLS setup for an ephemeral engine: a CA made for this one engine, a server certificate for
127.0.0.1 and a client certificate, with the openssl command-line tool.

    root/ca.pem ca-key.pem              the CA (its key never leaves root/)
    root/server/{ca,cert,key}.pem       what dockerd's --tlsverify listener uses
    root/client/{ca,cert,key}.pem       a DOCKER_CERT_PATH-style folder for clients

EC P-256 keys: made in milliseconds, accepted by Go's TLS stack and by Python's ssl.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hardlab.errors import HarnessError

DAYS = "2"  # the engine lives for one run; a longer life would only widen a leak


class CertError(HarnessError):
    """The TLS material could not be made (openssl missing or failing)."""


def _openssl(*argv: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise CertError("no openssl on PATH (install Debian's openssl package) to make a TLS engine's certificates")
    done = subprocess.run([binary, *argv], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise CertError(f"openssl {argv[0]} failed: {done.stderr.strip()[-400:]}")


def _key_and_csr(folder: Path, subject: str) -> None:
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "key.pem", "-out", "req.csr", "-subj", subject, cwd=folder)  # fmt: skip


def _sign(folder: Path, root: Path, extensions: str) -> None:
    (folder / "ext.cnf").write_text(extensions)
    _openssl("x509", "-req", "-in", "req.csr", "-CA", str(root / "ca.pem"), "-CAkey", str(root / "ca-key.pem"),
             "-CAcreateserial", "-CAserial", str(root / "ca.srl"), "-out", "cert.pem", "-days", DAYS,
             "-extfile", "ext.cnf", cwd=folder)  # fmt: skip
    (folder / "req.csr").unlink()
    (folder / "ext.cnf").unlink()
    shutil.copy(root / "ca.pem", folder / "ca.pem")
    (folder / "key.pem").chmod(0o600)


def make(root: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A CA, a server certificate for `host` (an IP address) and a client certificate under `root`.
    Returns (server folder, client folder), each holding ca.pem, cert.pem and key.pem."""
    root.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", DAYS, "-subj", "/CN=hardlab ephemeral engine CA",
             cwd=root)  # fmt: skip
    (root / "ca-key.pem").chmod(0o600)
    server, client = root / "server", root / "client"
    for folder in (server, client):
        folder.mkdir(exist_ok=True)
    _key_and_csr(server, f"/CN={host}")
    _sign(server, root, f"subjectAltName=IP:{host}\nextendedKeyUsage=serverAuth\n")
    _key_and_csr(client, "/CN=hardlab client")
    _sign(client, root, "extendedKeyUsage=clientAuth\n")
    return server, client
