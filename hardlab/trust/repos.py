"""The images a lab starts with: busybox imported and pushed, signed (content trust on) or not."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardlab.trust.lab import TrustLab

DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


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
    found = DIGEST.search(out)
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
