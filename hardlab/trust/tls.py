"""The lab's TLS material: a throw-away CA and a notary server certificate signed by it (openssl)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hardlab.trust.servers import HOST


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
