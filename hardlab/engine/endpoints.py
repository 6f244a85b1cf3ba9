"""Several engines for one run: `--engine` values and engines files to named endpoints. Pure (no docker-py):
parsing, checking a certificate folder, and the environment that binds a process to one engine.

    [NAME=]unix:///run/docker.sock
    [NAME=]tcp://10.0.0.5:2376,certs=/etc/hardlab/tls/host5   TLS: ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH-style)
    [NAME=]tcp://10.0.0.5:2376            TLS with $DOCKER_CERT_PATH when DOCKER_TLS_VERIFY=1, else plain tcp
    [NAME=]ssh://ops@builder              through the ssh client

An engines file holds one such value a line; blank lines and `#` comments are ignored. Every problem names
the file, its line and the key (url, certs, name).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hardlab.errors import BadInput, Problem, ProblemsError

SCHEMES = ("unix://", "tcp://", "ssh://")
CERT_FILES = ("ca.pem", "cert.pem", "key.pem")
# Variables that say which engine docker-py's from_env talks to: replaced, never merged, per engine.
ENV_KEYS = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")


@dataclass(frozen=True)
class Endpoint:
    """One engine of a run: reported under `name`."""

    name: str
    url: str
    certs: str = ""  # folder with ca.pem, cert.pem, key.pem: tcp+TLS, verified against ca.pem

    @property
    def tls(self) -> bool:
        return bool(self.certs)

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with only this engine's DOCKER_* variables: a child process (or docker.from_env) talks to it."""
        env = {k: v for k, v in base.items() if k not in ENV_KEYS}
        env["DOCKER_HOST"] = self.url
        if self.certs:
            env["DOCKER_TLS_VERIFY"] = "1"
            env["DOCKER_CERT_PATH"] = self.certs
        return env


def cert_problem(folder: str) -> str | None:
    """Why `folder` cannot serve as a DOCKER_CERT_PATH-style folder, or None."""
    path = Path(folder)
    if not path.is_dir():
        return f"{folder}: no such folder (it must hold {', '.join(CERT_FILES)})"
    missing = [name for name in CERT_FILES if not (path / name).is_file()]
    if missing:
        return f"{folder} lacks {', '.join(missing)} (a TLS folder holds {', '.join(CERT_FILES)})"
    unreadable = [name for name in CERT_FILES if not os.access(path / name, os.R_OK)]
    if unreadable:
        return f"{folder}: cannot read {', '.join(unreadable)}"
    return None


def parse(value: str, env: Mapping[str, str] | None = None) -> Endpoint:
    """One `--engine` value -> Endpoint. Raises BadInput with the problem (key: name, url or certs)."""
    problem, endpoint = _parse(value, os.environ if env is None else env)
    if problem is not None:
        raise BadInput(f"--engine {value!r}: {problem[0]}: {problem[1]}")
    assert endpoint is not None
    return endpoint


def _parse(value: str, env: Mapping[str, str]) -> tuple[tuple[str, str] | None, Endpoint | None]:
    text = value.strip()
    name = ""
    head, eq, rest = text.partition("=")
    if eq and "://" not in head and "," not in head:
        name, text = head.strip(), rest.strip()
        if not name:
            return ("name", "empty engine name before '='"), None
    url, _, options = text.partition(",")
    url = url.strip()
    if not url:
        return ("url", "empty engine address"), None
    if not url.startswith(SCHEMES):
        return ("url", f"{url!r}: unsupported address (use {', '.join(s + '...' for s in SCHEMES)})"), None
    if len(url) == len(next(s for s in SCHEMES if url.startswith(s))):
        return ("url", f"{url!r}: the address after the scheme is empty"), None
    certs = ""
    for option in (o.strip() for o in options.split(",") if o.strip()) if options else ():
        key, eq, val = option.partition("=")
        if key != "certs" or not eq:
            return (key or "options", f"unknown option {option!r} (the only one is certs=DIR)"), None
        certs = val.strip()
        if not certs:
            return ("certs", "empty certificate folder"), None
    if certs and not url.startswith("tcp://"):
        return ("certs", "a certificate folder applies to a tcp:// engine only"), None
    if not certs and url.startswith("tcp://") and env.get("DOCKER_TLS_VERIFY", "") not in ("", "0"):
        certs = env.get("DOCKER_CERT_PATH", "") or str(Path.home() / ".docker")
    if certs:
        why = cert_problem(certs)
        if why:
            return ("certs", why), None
        certs = str(Path(certs).resolve())
    return None, Endpoint(name or url, url, certs)


def read_file(path: str | Path, env: Mapping[str, str] | None = None) -> list[Endpoint]:
    """Every engine of an engines file. Raises ProblemsError naming the file, line and key of each problem."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemsError([Problem(shown, None, "", f"cannot read the engines file: {exc}")]) from exc
    problems: list[Problem] = []
    found: list[tuple[int, Endpoint]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        problem, endpoint = _parse(value, os.environ if env is None else env)
        if problem is not None:
            problems.append(Problem(shown, n, problem[0], problem[1]))
        elif endpoint is not None:
            found.append((n, endpoint))
    problems += _duplicates(found, shown)
    if not found and not problems:
        problems.append(Problem(shown, None, "", "lists no engine (one address a line)"))
    if problems:
        raise ProblemsError(problems)
    return [e for _, e in found]


def _duplicates(found: list[tuple[int, Endpoint]], shown: str) -> list[Problem]:
    out = []
    names: dict[str, int] = {}
    urls: dict[str, int] = {}
    for line, e in found:
        if e.name in names:
            first = names[e.name]
            out.append(Problem(shown, line, "name", f"engine {e.name!r} is listed twice (first on line {first})"))
        elif e.url in urls:
            out.append(Problem(shown, line, "url", f"{e.url} is listed twice (first on line {urls[e.url]})"))
        names.setdefault(e.name, line)
        urls.setdefault(e.url, line)
    return out


def gather(values: list[str], files: list[str], env: Mapping[str, str] | None = None) -> list[Endpoint]:
    """`--engine` values, then the engines of each `--engines-file`: one list, names and addresses unique."""
    out = [parse(v, env) for v in values]
    for path in files:
        out += read_file(path, env)
    seen_names: set[str] = set()
    seen_urls: set[str] = set()
    for e in out:
        if e.name in seen_names:
            raise BadInput(f"engine {e.name!r} is given twice (--engine / --engines-file)")
        if e.url in seen_urls:
            raise BadInput(f"engine {e.url} is given twice (--engine / --engines-file)")
        seen_names.add(e.name)
        seen_urls.add(e.url)
    return out
