"""Match an inventory against a feed: OSV range evaluation per package kind. Pure (no docker, no pytest)."""

from __future__ import annotations

import functools

from hardlab.scan.feed import Affected, Feed
from hardlab.scan.inventory import Inventory, Package
from hardlab.scan.model import Finding
from hardlab.scan.versions import compare

FAMILY = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine"}


def release_matches(affected: Affected, inventory: Inventory) -> bool:
    """`Debian:12` ↔ VERSION_ID 12; `Alpine:v3.19` ↔ 3.19.x; no release in the ecosystem matches any."""
    if affected.family != FAMILY.get(inventory.distro):
        return False
    release = affected.release
    if not release:
        return True
    if affected.family == "Alpine":
        return release == "v" + ".".join(inventory.version_id.split(".")[:2])
    return release == inventory.version_id


def _event_order(kind: str, a: tuple[str, str], b: tuple[str, str]) -> int:
    if a[1] == "0" and a[0] == "introduced":  # "0" means "since forever"
        return -1 if b != a else 0
    if b[1] == "0" and b[0] == "introduced":
        return 1
    return compare(kind, a[1], b[1])


def in_range(kind: str, version: str, events: tuple[tuple[str, str], ...]) -> tuple[bool, str | None]:
    """OSV range evaluation: (affected?, the fixed version that ends the range the version sits in)."""
    ordered = sorted(events, key=functools.cmp_to_key(functools.partial(_event_order, kind)))
    affected = False
    for event, bound in ordered:
        if event == "introduced":
            if bound == "0" or compare(kind, version, bound) >= 0:
                affected = True
            else:
                break
        elif event in ("fixed", "limit"):
            if compare(kind, version, bound) >= 0:
                affected = False
            else:
                return affected, bound if (affected and event == "fixed") else None
        elif event == "last_affected":
            if compare(kind, version, bound) > 0:
                affected = False
            else:
                return affected, None
    return affected, None


def match(inventory: Inventory, feed: Feed) -> list[Finding]:
    """One finding per (advisory, source package), naming every installed binary package built from it."""
    by_source: dict[str, list[Package]] = {}
    for pkg in inventory.packages:
        by_source.setdefault(pkg.source, []).append(pkg)
    found: dict[tuple[str, str], Finding] = {}
    for adv in feed.advisories:
        for aff in adv.affected:
            pkgs = by_source.get(aff.name)
            if not pkgs or not release_matches(aff, inventory):
                continue
            for pkg in pkgs:
                hit, fixed = pkg.source_version in aff.versions, None
                for rng in aff.ranges:
                    in_it, fix = in_range(pkg.kind, pkg.source_version, rng.events)
                    if in_it:
                        hit, fixed = True, fix or fixed
                if not hit:
                    continue
                key = (adv.id, aff.name)
                if key in found:
                    if pkg.name not in found[key].packages:
                        found[key].packages.append(pkg.name)
                    continue
                found[key] = Finding(
                    adv.id,
                    aff.name,
                    [pkg.name],
                    pkg.source_version,
                    fixed,
                    aff.severity,
                    adv.summary,
                    list(adv.aliases),
                )
    for finding in found.values():
        finding.packages.sort()
    return sorted(found.values(), key=lambda f: (-f.severity, f.source, f.id))
