"""Advisory feeds in OSV format on disk, and severities: load, validate (errors name file and key), normalise.

Pure: no docker, no pytest. Debian's advisories are keyed by *source* package, Alpine's by origin package;
the matcher (hardlab.scan.run) compares against those names.
"""

from __future__ import annotations

import functools
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from hardlab.errors import BadInput
from hardlab.scan.versions import VALIDATORS


class FeedError(BadInput, ValueError):
    """A feed file that cannot be used; the message names the file and the key path."""


class Severity(IntEnum):
    """Clair/klar's order. Comparisons (>=) are what the gate uses."""

    UNKNOWN = 0
    NEGLIGIBLE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A severity name from any of the feeds/tools hardlab reads; ValueError for anything else."""
        key = " ".join(str(text).strip().lower().replace("_", " ").split())
        if key in _SYNONYMS:
            return _SYNONYMS[key]
        raise ValueError(f"unknown severity {text!r}; expected one of {', '.join(s.label for s in cls)}")


_SYNONYMS = {
    **{s.name.lower(): s for s in Severity},
    "none": Severity.NEGLIGIBLE,  # CVSS "None"
    "unimportant": Severity.NEGLIGIBLE,  # Debian urgency
    "moderate": Severity.MEDIUM,  # GHSA / Red Hat
    "important": Severity.HIGH,  # Red Hat
    "not yet assigned": Severity.UNKNOWN,  # Debian urgency
    "": Severity.UNKNOWN,
}


def severity_from_score(score: float) -> Severity:
    """CVSS v3 and v4 qualitative rating (v2 scores use the same bands here); 0.0 ("None") is Negligible on
    Clair's scale."""
    if score <= 0:
        return Severity.NEGLIGIBLE
    if score < 4:
        return Severity.LOW
    if score < 7:
        return Severity.MEDIUM
    if score < 9:
        return Severity.HIGH
    return Severity.CRITICAL


def cvss_base_score(vector: str) -> float:
    """Base score of a CVSS v2, v3.x or v4.0 vector, by the `cvss` package (FIRST's calculators); ValueError on a
    malformed vector. A v2 vector has no prefix (`AV:N/AC:L/Au:N/C:P/I:P/A:P`)."""
    from cvss import CVSS2, CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    try:
        if vector.startswith("CVSS:4"):
            return float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3"):
            return float(CVSS3(vector).base_score)
        if vector.startswith("AV:"):
            return float(CVSS2(vector).base_score)
    except CVSSError as exc:
        raise ValueError(f"CVSS vector {vector!r}: {exc}") from None
    raise ValueError(f"not a CVSS vector: {vector!r}")


def cvss3_base_score(vector: str) -> float:
    """Base score of a CVSS:3.x vector; ValueError on a malformed vector or another version."""
    if not vector.startswith("CVSS:3"):
        raise ValueError(f"not a CVSS v3 vector: {vector!r}")
    return cvss_base_score(vector)


# --------------------------------------------------------------------------------------------- model

ECOSYSTEM_KIND = {"Debian": "dpkg", "Ubuntu": "dpkg", "Alpine": "apk"}


@dataclass(frozen=True)
class Range:
    events: tuple[tuple[str, str], ...]  # (kind, version) in file order; kind: introduced|fixed|last_affected|limit


@dataclass(frozen=True)
class Affected:
    ecosystem: str  # "Debian:12", "Alpine:v3.19", ...
    name: str  # source package (Debian) / origin (Alpine)
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    severity: Severity

    @property
    def family(self) -> str:
        return self.ecosystem.split(":", 1)[0]

    @property
    def release(self) -> str:
        parts = self.ecosystem.split(":")
        return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class Advisory:
    id: str
    summary: str
    aliases: tuple[str, ...]
    affected: tuple[Affected, ...]
    source: str  # the file it came from


@dataclass
class Feed:
    path: Path
    advisories: list[Advisory] = field(default_factory=list)
    files: int = 0


# --------------------------------------------------------------------------------------------- loading

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise FeedError(f"{where}: {msg}")


def _severity_of(entry: dict[str, Any], affected: dict[str, Any], where: str) -> Severity:
    # Most specific first: per-package (Debian urgency lives here), then the entry, then a CVSS vector.
    candidates = [
        (f"{where}.ecosystem_specific.severity", (affected.get("ecosystem_specific") or {}).get("severity")),
        (f"{where}.ecosystem_specific.urgency", (affected.get("ecosystem_specific") or {}).get("urgency")),
        (f"{where}.database_specific.severity", (affected.get("database_specific") or {}).get("severity")),
        ("database_specific.severity", (entry.get("database_specific") or {}).get("severity")),
    ]
    for key, value in candidates:
        if value is not None:
            try:
                return Severity.parse(value)
            except ValueError as exc:
                raise FeedError(f"{key}: {exc}") from None
    for n, sev in enumerate(entry.get("severity") or []):
        score = str(sev.get("score", "")) if isinstance(sev, dict) else ""
        try:
            if score.startswith(("CVSS:2", "CVSS:3", "CVSS:4", "AV:")):  # v2 vectors carry no prefix
                return severity_from_score(cvss_base_score(score))
            if score.replace(".", "", 1).isdigit():
                return severity_from_score(float(score))
        except ValueError as exc:
            raise FeedError(f"severity[{n}].score: {exc}") from None
    return Severity.UNKNOWN


def parse_advisory(entry: Any, source: str) -> Advisory | None:
    """One OSV entry; None when withdrawn. FeedError names `source` and the key path of the problem."""
    try:
        return _parse_advisory(entry, source)
    except FeedError as exc:
        raise FeedError(f"{source}: {exc}") from None


def _parse_advisory(entry: Any, source: str) -> Advisory | None:
    _need(isinstance(entry, dict), "entry", f"expected a JSON object, got {type(entry).__name__}")
    vid = entry.get("id")
    _need(isinstance(vid, str) and bool(vid.strip()), "id", "missing or empty (every OSV entry has an id)")
    if entry.get("withdrawn"):
        return None
    raw_affected = entry.get("affected", [])
    _need(isinstance(raw_affected, list), f"{vid}: affected", "expected a list")
    affected = []
    for n, item in enumerate(raw_affected):
        where = f"{vid}: affected[{n}]"
        _need(isinstance(item, dict), where, "expected an object")
        pkg = item.get("package")
        _need(isinstance(pkg, dict), f"{where}.package", "missing (needs ecosystem and name)")
        for key in ("ecosystem", "name"):
            _need(isinstance(pkg.get(key), str) and bool(pkg[key]), f"{where}.package.{key}", "missing or empty")
        kind = ECOSYSTEM_KIND.get(pkg["ecosystem"].split(":", 1)[0])
        versions = item.get("versions", [])
        _need(
            isinstance(versions, list) and all(isinstance(v, str) for v in versions),
            f"{where}.versions",
            "expected a list of version strings",
        )
        raw_ranges = item.get("ranges", [])
        _need(isinstance(raw_ranges, list), f"{where}.ranges", "expected a list")
        _need(bool(raw_ranges) or bool(versions), where, "needs `ranges` or `versions`")
        ranges = []
        for r, rng in enumerate(raw_ranges):
            rwhere = f"{where}.ranges[{r}]"
            _need(isinstance(rng, dict), rwhere, "expected an object")
            _need(
                rng.get("type") in ("ECOSYSTEM", "SEMVER", "GIT"),
                f"{rwhere}.type",
                f"{rng.get('type')!r}; expected ECOSYSTEM, SEMVER or GIT",
            )
            events = rng.get("events")
            _need(isinstance(events, list) and bool(events), f"{rwhere}.events", "missing or empty")
            parsed = []
            for e, event in enumerate(events):
                ewhere = f"{rwhere}.events[{e}]"
                _need(
                    isinstance(event, dict) and len(event) == 1,
                    ewhere,
                    f"expected exactly one of {', '.join(_EVENT_KINDS)}, got {event!r}",
                )
                ((ekind, version),) = event.items()
                _need(
                    ekind in _EVENT_KINDS,
                    f"{ewhere}.{ekind}",
                    f"unknown event; expected one of {', '.join(_EVENT_KINDS)}",
                )
                _need(isinstance(version, str) and bool(version), f"{ewhere}.{ekind}", "expected a version string")
                if kind and rng["type"] == "ECOSYSTEM" and not (ekind == "introduced" and version == "0"):
                    _need(VALIDATORS[kind](version), f"{ewhere}.{ekind}", f"{version!r} is not a valid {kind} version")
                parsed.append((ekind, version))
            if rng["type"] == "ECOSYSTEM":  # GIT/SEMVER ranges describe upstream commits, not distro packages
                ranges.append(Range(tuple(parsed)))
        affected.append(
            Affected(
                pkg["ecosystem"],
                pkg["name"],
                tuple(ranges),
                tuple(versions),
                _severity_of(entry, item, f"affected[{n}]"),
            )
        )
    aliases = entry.get("aliases") or []
    return Advisory(vid, str(entry.get("summary", "")), tuple(map(str, aliases)), tuple(affected), source)


def _entries(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("vulns"), list):
        return list(data["vulns"])  # an OSV API / export response
    return data if isinstance(data, list) else [data]


def _sources(root: Path) -> list[tuple[str, Callable[[], bytes]]]:
    """(name shown in errors, reader) for every JSON document of a folder, a file, or an OSV zip export."""
    if root.is_dir():
        return [(str(f), f.read_bytes) for f in sorted(root.rglob("*.json"))]
    if root.suffix == ".zip":  # osv.dev's per-ecosystem bulk export (e.g. Debian/all.zip)
        try:
            archive = zipfile.ZipFile(root)
        except zipfile.BadZipFile as exc:
            raise FeedError(f"{root}: not a readable zip: {exc}") from None
        names = sorted(n for n in archive.namelist() if n.endswith(".json"))
        return [(f"{root}!{n}", functools.partial(archive.read, n)) for n in names]
    return [(str(root), root.read_bytes)]


def load_feed(path: str | Path) -> Feed:
    """Every `*.json` under a folder, one JSON file, or an OSV `.zip` export: each document one entry,
    a list of entries, or {"vulns": [...]}."""
    root = Path(path)
    if not root.exists():
        raise FeedError(f"{root}: advisory feed not found")
    sources = _sources(root)
    if not sources:
        raise FeedError(f"{root}: no *.json advisory files in it")
    feed = Feed(root)
    seen: dict[str, str] = {}
    for name, read in sources:
        try:
            data = json.loads(read().decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise FeedError(f"{name}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise FeedError(f"{name}: cannot read: {exc}") from None
        for n, entry in enumerate(_entries(data)):
            adv = parse_advisory(entry, name if not isinstance(data, list) else f"{name}[{n}]")
            if adv is None:
                continue
            if adv.id in seen:
                raise FeedError(f"{name}: {adv.id}: duplicate id (also in {seen[adv.id]})")
            seen[adv.id] = name
            feed.advisories.append(adv)
        feed.files += 1
    return feed
