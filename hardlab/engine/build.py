"""Build a Dockerfile without `docker build`: every RUN runs in its own container under limits (memory, pids,
CPU time, wall time, no network), then is committed. The engine's builder cannot cap pids or wall time, and
a submission's RUN is untrusted code (grading builds students' Dockerfiles with it).

Only checked instructions reach here (`hardlab.grading.dockerfile.parse_dockerfile`), COPY in its JSON form with
every source confined to the build folder. Every container and image made carries the run's labels, and is
removed (containers at once, images when the run ends).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import tarfile
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors
import docker.types
import requests.exceptions

from hardlab.engine import labels
from hardlab.engine.client import EngineError
from hardlab.errors import HardlabError
from hardlab.system.locks import file_lock

REPO = "hardlab-grade"  # not hardlab/...: `hardlab images prune` owns that namespace


class BuildError(HardlabError):
    """The Dockerfile did not build; the message is what its author reads."""


@dataclass(frozen=True)
class Limits:
    """What binds every build container: docker-py run options, and the time one RUN and the build may take."""

    container: dict[str, Any]
    step_timeout: float
    build_timeout: float
    log_bytes: int = 2000  # most of a failed RUN's output the message shows (its end)
    image_bytes: int = 0  # most the image may weigh (its base included) after any RUN or COPY; 0: unbounded


# Lines of a failed RUN's output asked from the engine, and bytes read of them at most: a RUN printing 3 GB
# is cut while streaming, never read whole.
LOG_TAIL_LINES = 200
LOG_READ_BYTES = 256 * 1024


def tag_for(key: str, run_id: str) -> str:
    return f"{REPO}/{key}:{run_id.lower()}"


def build(client: Any, spec: dict[str, Any], limits: Limits, run_id: str, owner: str) -> str:
    """The image built from `spec` (see grading_plan), tagged by its content; built once per run."""
    tag = tag_for(spec["key"], run_id)
    lock = Path(tempfile.gettempdir()) / f"hardlab-grade-build-{spec['key']}-{run_id}.lock"
    with file_lock(lock):  # xdist workers grading the same submission build it once
        failed = lock.with_suffix(".failed")
        if failed.is_file():  # the other check of the same submission already tried: same answer, no rebuild
            raise BuildError(failed.read_text())
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        try:
            try:
                _Builder(client, spec, limits, labels.for_run(run_id, owner, f"build {spec['shown']}")).run(tag)
            except docker.errors.APIError as exc:  # before RequestException: it is one (an HTTPError)
                if exc.status_code is None or exc.status_code >= 500:  # engine trouble, not the Dockerfile's
                    raise EngineError(f"building {spec['shown']}: {getattr(exc, 'explanation', None) or exc}") from None
                # The engine refused what the Dockerfile asks (a commit change, a user, a workdir).
                raise BuildError(f"{spec['shown']}: the engine refused the image: "
                                 f"{_printable(str(getattr(exc, 'explanation', '') or exc))[:500]}") from None
            except requests.exceptions.RequestException as exc:
                raise EngineError(f"building {spec['shown']}: the engine did not answer: {exc}") from None
        except BuildError as exc:
            failed.write_text(str(exc))
            raise
    return tag


class _Builder:
    def __init__(self, client: Any, spec: dict[str, Any], limits: Limits, run_labels: dict[str, str]):
        self.client, self.spec, self.limits, self.labels = client, spec, limits, run_labels
        self.image = spec["base"]
        self.user, self.workdir = "", "/"
        self.env: dict[str, str] = {}
        self.config: list[str] = []  # instructions applied to the final image's config
        self.made: list[str] = []  # the images this build committed, oldest first
        self.started = time.monotonic()

    def run(self, tag: str) -> None:
        for line, word, rest in self.spec["instructions"]:
            where = f"{self.spec['shown']}: line {line}"
            if time.monotonic() - self.started > self.limits.build_timeout:
                raise BuildError(f"{where}: the build took longer than {self.limits.build_timeout:g}s")
            if word == "RUN":
                self._run(rest, where)
            elif word == "COPY":
                self._copy(rest, where)
            elif word == "USER":
                self.user = rest.split()[0]
                self.config.append(f"USER {self.user}")
            elif word == "WORKDIR":
                self.workdir = str(PurePosixPath(self.workdir) / rest.strip())
                self.config.append(f"WORKDIR {self.workdir}")
            elif word == "ENV":
                self.env.update(_env_pairs(rest, where))
                self.config.append(f"ENV {rest}")
            else:  # CMD, ENTRYPOINT, LABEL, EXPOSE: config only
                self.config.append(f"{word} {rest}")
        repo, version = tag.split(":")
        # A commit keeps the committed container's command: give the image back a plain one.
        defaults = [] if any(c.startswith("CMD ") for c in self.config) else ['CMD ["/bin/sh"]']
        self._commit(self._create(), [*defaults, *self.config], repo, version)

    def _limits(self) -> dict[str, Any]:
        lim = dict(self.limits.container)
        lim["ulimits"] = [docker.types.Ulimit(**u) for u in lim["ulimits"]]
        return lim

    def _create(self, command: Any = None, **extra: Any) -> Any:
        name = f"hardlab-build-{os.getpid()}-{time.monotonic_ns() % 10**9}"
        return self.client.containers.create(
            self.image, command, name=name, labels=self.labels, network_mode="none", detach=True,
            **self._limits(), **extra,
        )  # fmt: skip

    def _within_size(self, container: Any, where: str) -> None:
        """Refuse a layer that would make the image larger than the course allows, before committing it (a
        commit copies the layer once more). The build's images so far are removed at once: the disk is back."""
        limit = self.limits.image_bytes
        if limit <= 0:
            return
        listed = self.client.api.containers(all=True, filters={"id": container.id}, size=True)
        layer = int((listed[0] if listed else {}).get("SizeRw") or 0)
        size = int(self.client.api.inspect_image(self.image).get("Size") or 0) + layer
        if size > limit:
            _remove(container)
            self._drop_images()
            raise BuildError(f"{where}: the image would be {_mb(size)} after this step, more than the course "
                             f"allows ({_mb(limit)}); the build was stopped and its layers removed")  # fmt: skip

    def _drop_images(self) -> None:
        for image_id in reversed(self.made):
            with suppress(docker.errors.APIError, requests.exceptions.RequestException):
                self.client.images.remove(image_id, force=True, noprune=False)
        self.made.clear()

    def _commit(self, container: Any, changes: list[str], repo: str | None = None, tag: str | None = None) -> None:
        try:
            stamp = " ".join(f"{k}={json.dumps(v)}" for k, v in self.labels.items())
            image = container.commit(repository=repo, tag=tag, changes=[*changes, f"LABEL {stamp}"])
            self.image = image.id
            self.made.append(image.id)
        finally:
            _remove(container)

    def _run(self, rest: str, where: str) -> None:
        if rest.startswith("["):
            try:
                command = json.loads(rest)
            except json.JSONDecodeError:
                raise BuildError(f"{where}: RUN [...] must be a JSON list of strings") from None
        else:
            command = ["/bin/sh", "-c", rest]
        container = self._create(command, user=self.user or None, working_dir=self.workdir,
                                 environment=self.env or None, entrypoint=[])  # fmt: skip
        try:
            try:
                container.start()
            except docker.errors.APIError as exc:
                raise BuildError(f"{where}: RUN could not start: {getattr(exc, 'explanation', exc)}") from None
            remaining = max(1.0, self.limits.build_timeout - (time.monotonic() - self.started))
            per_run = self.limits.step_timeout * 4
            try:
                status = container.wait(timeout=min(per_run, remaining))
            except requests.exceptions.RequestException:
                container.kill()
                what = (f"one RUN may take {per_run:g}s" if per_run < remaining
                        else f"the whole build may take {self.limits.build_timeout:g}s")  # fmt: skip
                raise BuildError(f"{where}: RUN {rest[:80]} was stopped: still running when the time ran out "
                                 f"({what})") from None  # fmt: skip
            code = status.get("StatusCode")
            if code != 0:
                log = bounded_log(container, self.limits.log_bytes)
                raise BuildError(f"{where}: RUN {rest[:80]} exited with {code}" + (f":\n{log}" if log else ""))
            self._within_size(container, where)
            self._commit(container, [])
        finally:
            _remove(container)

    def _copy(self, rest: str, where: str) -> None:
        *sources, dest = json.loads(rest)  # checked and normalised to the JSON form before the build
        context = Path(self.spec["context"])
        target = PurePosixPath(self.workdir) / dest
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            for src in sources:
                path = context / src
                if not path.exists():
                    raise BuildError(f"{where}: COPY {src}: no such file in the build folder")
                into = target / path.name if (dest.endswith("/") or len(sources) > 1) else target
                if path.is_dir():
                    into = target
                    for sub in sorted(path.rglob("*")):
                        _add(tar, sub, into / sub.relative_to(path).as_posix())
                else:
                    _add(tar, path, into)
        container = self._create()
        try:
            container.put_archive("/", data.getvalue())
        except docker.errors.APIError as exc:
            _remove(container)
            raise BuildError(f"{where}: COPY failed: {getattr(exc, 'explanation', exc)}") from None
        self._within_size(container, where)
        self._commit(container, [])


def bounded_log(container: Any, limit: int) -> str:
    """The end of a container's output, at most `limit` bytes of it, read as a bounded stream; control
    characters (terminal escapes) are shown escaped, and a cut says so."""
    if limit <= 0:
        return ""
    stream = container.logs(stdout=True, stderr=True, stream=True, follow=False, tail=LOG_TAIL_LINES)
    kept, read, cut = b"", 0, False
    try:
        for chunk in stream:
            read += len(chunk)
            kept = (kept + chunk)[-limit:]
            if read >= LOG_READ_BYTES:
                cut = True
                break
    finally:
        with suppress(Exception):  # a stream the engine already closed
            stream.close()
    cut = cut or read > limit
    text = _printable(kept.decode("utf-8", "replace")).strip()
    if cut and text:
        text = f"[output cut: the course shows at most the last {limit} bytes]\n...{text}"
    return text


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() or c in "\n\t" else ascii(c)[1:-1] for c in text)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB ({size} bytes)"


def _remove(container: Any) -> None:
    with suppress(docker.errors.APIError):  # already gone
        container.remove(force=True)


def _add(tar: tarfile.TarFile, path: Path, into: PurePosixPath) -> None:
    if path.is_symlink():
        return  # staging refused symlinks already
    info = tar.gettarinfo(str(path), arcname=str(into).lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if info.isdir():
        tar.addfile(info)
    else:
        with open(path, "rb") as handle:
            tar.addfile(info, handle)


def _env_pairs(rest: str, where: str) -> dict[str, str]:
    try:
        parts = shlex.split(rest)
    except ValueError as exc:
        raise BuildError(f"{where}: ENV: {exc}") from None
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return dict(p.split("=", 1) for p in parts if "=" in p)


# /etc/passwd read through the engine at most this big (an image's, so the student's).
PASSWD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ImageUser:
    """Who the engine runs an image's processes as, from its config (never from the image's programs)."""

    uid: int | None  # None: the engine could not tell (the run would fail, or the name is not in passwd)
    why: str  # what was read, for the message


def image_user(client: Any, image: str, run_labels: dict[str, str]) -> ImageUser:
    """The uid of an image's default user as the engine decides it: the config's USER, a name looked up in
    the image's own /etc/passwd read through the engine's archive API (the container is created, never
    started, so no program of the image runs). A fake /bin/id cannot change this answer. Raises
    EngineError when the engine does not answer."""
    try:
        return _image_user(client, image, run_labels)
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"reading the user of {image}: {getattr(exc, 'explanation', None) or exc}") from None


def _image_user(client: Any, image: str, run_labels: dict[str, str]) -> ImageUser:
    config = client.images.get(image).attrs.get("Config") or {}
    raw = str(config.get("User") or "")
    user = raw.split(":", 1)[0].strip()
    if not user:
        return ImageUser(0, "the image sets no USER, so the engine runs it as root (uid 0)")
    if user.isdigit():
        return ImageUser(int(user), f"the image's USER is {raw}, uid {int(user)}")
    name = f"hardlab-user-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    container = client.containers.create(image, ["/nonexistent"], name=name, labels=run_labels,
                                         network_mode="none", entrypoint=[])  # fmt: skip
    try:
        passwd = _archive_file(container, "/etc/passwd", PASSWD_BYTES)
    finally:
        _remove(container)
    if passwd is None:
        return ImageUser(None, f"the image's USER is {raw!r}, but the image has no plain /etc/passwd to name it")
    for line in passwd.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == user and fields[2].strip().isdigit():
            uid = int(fields[2])
            return ImageUser(uid, f"the image's USER is {raw!r}, which its /etc/passwd maps to uid {uid}")
    return ImageUser(None, f"the image's USER is {raw!r}, which its /etc/passwd does not name")


def _archive_file(container: Any, path: str, limit: int) -> bytes | None:
    """A plain file of a (created) container, through the engine, at most `limit` bytes; None otherwise."""
    try:
        stream, info = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    if int((info or {}).get("size", 0)) > limit:
        return None
    data, total = io.BytesIO(), 0
    for chunk in stream:
        total += len(chunk)
        if total > limit + 64 * 1024:  # tar headers and padding on top of the file
            return None
        data.write(chunk)
    data.seek(0)
    with tarfile.open(fileobj=data, mode="r:") as tar:
        member = next(iter(tar.getmembers()), None)
        if member is None or not member.isfile():
            return None
        handle = tar.extractfile(member)
        return handle.read(limit + 1)[:limit] if handle else None


def remove_run_images(client: Any, run_id: str) -> int:
    """Remove every image this run built (final and intermediate), newest first."""
    removed = 0
    found = client.images.list(all=True, filters={"label": f"{labels.RUN}={run_id}"})
    for image in sorted(found, key=lambda i: i.attrs.get("Created", ""), reverse=True):
        for ref in [*image.tags, image.id]:
            try:
                client.images.remove(ref, force=True, noprune=False)
                removed += 1
            except docker.errors.APIError:
                continue
    return removed
