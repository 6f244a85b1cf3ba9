"""Content trust by behaviour (CIS 4.5): how the docker CLI reads the setting, and the verdict on what it did."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hardlab.audit.model import Outcome

REFUSED_UNSIGNED = "No valid trust data for unsigned"


@dataclass(frozen=True)
class ClientTrust:
    """DOCKER_CONTENT_TRUST as this host's clients get it: the raw value (None: set nowhere) and where from."""

    value: str | None
    where: str

    @property
    def configured(self) -> bool:
        # The docker CLI's own rule: any non-empty value except a strconv.ParseBool false turns it on.
        return bool(self.value) and self.value not in {"0", "f", "F", "false", "FALSE", "False"}


def client_trust(env: dict[str, str], etc_environment: str | None) -> ClientTrust:
    """The same reading as the config check (audit_gather.content_trust): the process environment first,
    then /etc/environment (`etc_environment` is its text, None when unreadable)."""
    if env.get("DOCKER_CONTENT_TRUST"):
        value = env["DOCKER_CONTENT_TRUST"]
        return ClientTrust(value, f"DOCKER_CONTENT_TRUST={value} in the audit's environment")
    for line in (etc_environment or "").splitlines():
        key, _, value = line.strip().partition("=")
        if key == "DOCKER_CONTENT_TRUST":
            value = value.strip("\"'")
            return ClientTrust(value, f"/etc/environment sets DOCKER_CONTENT_TRUST={value}")
    return ClientTrust(None, "neither the audit's environment nor /etc/environment sets it")


@dataclass(frozen=True)
class CliRun:
    """One docker CLI command as it ran."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    def quote(self, needle: str = "") -> str:
        """The CLI's own line: the first one naming `needle`, else its last error line (or output line)."""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines() if ln.strip()]
        hits = [ln for ln in lines if needle and needle in ln]
        errors = [ln for ln in self.stderr.splitlines() if ln.strip()]
        line = hits[0] if hits else (errors[-1].strip() if errors else (lines[-1] if lines else "(no output)"))
        return json.dumps(line[:300])


def trust_pull_verdict(setting: ClientTrust, control: CliRun, case: CliRun, unsigned_digest: str) -> Outcome:
    """CIS 4.5 by behaviour. `control`: the lab's signed tag pulled with the host's setting (must work, else the
    lab proved nothing); `case`: its unsigned tag, which only a client enforcing content trust refuses."""
    how = f"with this host's client setting ({setting.where}) and a fresh DOCKER_CONFIG"
    if control.returncode == 0:
        control_line = f"control: `{control.command}` (signed tag) pulled, exit 0: {control.quote('Digest:')}"
    else:
        return Outcome("broken-control", (
            f"BROKEN CONTROL: `{control.command}` (signed tag) {how} failed, exit {control.returncode}: "
            f"{control.quote()}; the lab proved nothing",
            f"case: `{case.command}` exit {case.returncode}: {case.quote(REFUSED_UNSIGNED)}"))  # fmt: skip
    if case.returncode != 0 and REFUSED_UNSIGNED in case.stderr + case.stdout:
        evidence = [f"`{case.command}` {how} was refused, exit {case.returncode}: {case.quote(REFUSED_UNSIGNED)}",
                    control_line]  # fmt: skip
        if not setting.configured:
            evidence.append(f"note: the config check wants DOCKER_CONTENT_TRUST=1; the CLI also enforces "
                            f"content trust for {setting.value!r}")  # fmt: skip
        return Outcome.ok(*evidence)
    if case.returncode != 0:
        return Outcome.error(f"`{case.command}` {how} failed for another reason, exit {case.returncode}: "
                             f"{case.quote()} (expected the refusal {REFUSED_UNSIGNED!r} or a pull)",
                             control_line)  # fmt: skip
    got = case.quote("Digest:")
    what = "the unsigned image" if unsigned_digest and unsigned_digest in case.stdout else "an image"
    pulled = f"`{case.command}` {how} pulled {what}, exit 0: {got}"
    if setting.configured:
        return Outcome.fail(f"DOCKER_CONTENT_TRUST=1 is configured, yet the CLI pulled an unsigned tag: {pulled}",
                            control_line)  # fmt: skip
    return Outcome.missing("content-trust", f"clients pull unsigned images: {pulled}", control_line)
