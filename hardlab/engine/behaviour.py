"""The engine facts that only a container can tell: measured by running a few labelled probe containers.

- the default seccomp profile's generation: hardlab-probe in a default container (AF_VSOCK socket,
  process_vm_readv, name_to_handle_at, clone3), decoded by `hardlab.core.facts.profile_generation`;
- the syscall ABIs the kernel accepts: getpid through x86_64, i386 (int 0x80) and x32, unconfined;
- what `--privileged` grants: the CapBnd of a privileged container (the engine's own bounding set);
- the kernel's cap_last_cap as the engine's containers see it (so a remote engine is judged by its own).

The probes use lab images already on the engine and never build one: a missing image makes the fact
"unknown" with the reason. Every container is labelled and removed.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from hardlab.core import facts
from hardlab.engine import images, labels

PROBE = "/usr/local/bin/hardlab-probe"
PROFILE_CALLS = ("socket", "process_vm_readv", "name_to_handle_at", "clone3")
TIMEOUT = 60


def _present(client: Any, image: str) -> str | None:
    """The tag of lab image `image` when it is already on the engine, else None."""
    import docker.errors

    tag = images.resolve(image)
    try:
        client.images.get(tag)
    except docker.errors.DockerException:
        return None
    return tag


def run(client: Any, image: str, command: list[str], **options: Any) -> tuple[int | None, str]:
    """(exit status, output) of a labelled one-shot container; (None, why) when it could not run."""
    import docker.errors
    import requests.exceptions

    tag = _present(client, image)
    if tag is None:
        return None, f"{image} is not on this engine (run: hardlab images build)"
    container = None
    try:
        container = client.containers.create(
            tag, command, labels=labels.for_run("probe", labels.owner(), "engine facts probe"), **options
        )
        container.start()
        code = container.wait(timeout=TIMEOUT).get("StatusCode")
        return code, container.logs().decode(errors="replace")
    except docker.errors.APIError as exc:
        return None, str(getattr(exc, "explanation", None) or exc)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return None, f"{type(exc).__name__}: {exc}"  # a timeout or a dropped connection: the fact stays unknown
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)


def probe_answers(output: str) -> dict[tuple[str, str], str]:
    """(syscall, abi) -> errno from hardlab-probe lines ('syscall=stime abi=i386 ret=-1 errno=EPERM')."""
    out = {}
    for line in output.splitlines():
        found = re.match(r"syscall=(\S+)(?: abi=(\S+))? ret=\S+ errno=([A-Z0-9]+)", line.strip())
        if found:
            out[(found.group(1), found.group(2) or "x86_64")] = found.group(3)
    return out


def profile_and_caps(client: Any) -> tuple[facts.ProfileGeneration, int | None]:
    """The default profile's markers and cap_last_cap, from one default container."""
    script = "; ".join(f"{PROBE} {name}" for name in PROFILE_CALLS) + "; cat /proc/sys/kernel/cap_last_cap"
    code, output = run(client, "lab:tools", ["/bin/sh", "-c", script])
    if code is None:
        return facts.profile_generation({}, error=output.strip()[:200]), None
    seen = probe_answers(output)
    last = re.search(r"^(\d+)\s*$", output, re.MULTILINE)
    generation = facts.profile_generation({name: seen.get((name, "x86_64")) for name in PROFILE_CALLS})
    return generation, int(last.group(1)) if last else None


def abis(client: Any) -> dict[str, bool | None]:
    """Which ABIs the kernel answers (getpid, unconfined: the kernel's answer, not a profile's)."""
    script = f"{PROBE} getpid; {PROBE} --abi i386 getpid; {PROBE} --abi x32 getpid"
    code, output = run(client, "lab:tools", ["/bin/sh", "-c", script], security_opt=["seccomp=unconfined"])
    if code is None:
        return {abi: None for abi in facts.ABIS}
    seen = probe_answers(output)
    return facts.abis_accepted({abi: seen.get(("getpid", abi)) for abi in facts.ABIS})


def privileged(client: Any) -> tuple[bool, str, facts.Privileged]:
    """(starts, evidence, fact): start a real --privileged container and read its bounding set."""
    code, output = run(client, "lab:busybox", ["cat", "/proc/self/status"], privileged=True)
    if code is None:
        evidence = f"the engine cannot start --privileged containers: {_short(output)}"
        if "unable to apply caps" in output or "capset: Operation not permitted" in output:  # runc / crun
            evidence += (
                " — this host's root lacks capabilities the engine must grant (e.g. CAP_SYS_RESOURCE in a "
                "nested VM/container); run privileged cases in the lab VM: hardlab vm run -m privileged"
            )
        elif "is not on this engine" in output:
            evidence = f"could not prepare the probe container: {output}"
        return False, evidence, facts.Privileged(False, None, evidence)
    mask = facts.capbnd_from_status(output)
    count = len(facts.Privileged(True, mask).names)
    evidence = f"a --privileged container started and exited {code}; CapBnd {mask} ({count} capabilities)"
    return code == 0, evidence, facts.Privileged(code == 0, mask, evidence)


def _short(msg: str) -> str:
    for marker in ("unable to apply caps", "capset: Operation not permitted", "operation not permitted"):
        if marker in msg:
            return msg[msg.index(marker) :].split("\n")[0][:160]
    return msg[:200]
