"""The proof of a learned profile, as a hardlab scenario (pure: it writes TOML text).

- each workload exits as recorded under the learned profile, as the container's main process; its
  control is the same workload under the engine's default profile;
- a sample of Docker's dangerous table is refused (EPERM/ENOSYS) on x86_64 and through the i386 ABI;
  the control makes each call unconfined with its gating capability and must see it reach the kernel;
- clone3 answers ENOSYS; a syscall the workload never made is refused (control: the default profile
  lets it through).

The refusal cases run hardlab-probe (Python) by exec, which needs calls a small workload never makes.
They run under the *probe profile*: the learned one plus what the probe and its keep-alive `sleep`
were recorded making, minus every syscall a case probes. A seccomp filter's answer for a syscall
depends only on the rules that name it, so the probe profile answers each probed call exactly as the
learned one does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hardlab.spec import prober

# (syscall, capability that also gates it): a sample of Docker's "significant syscalls blocked" table,
# each on both x86_64 and i386 in hardlab-probe. clone, personality and socket are probed with the
# arguments Docker's filters refuse (namespace flags, PER_BSD, AF_VSOCK).
DANGEROUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mount", ("SYS_ADMIN",)), ("umount2", ("SYS_ADMIN",)), ("unshare", ("SYS_ADMIN",)),
    ("setns", ("SYS_ADMIN",)), ("pivot_root", ("SYS_ADMIN",)), ("swapon", ("SYS_ADMIN",)),
    ("quotactl", ("SYS_ADMIN",)), ("bpf", ("SYS_ADMIN",)), ("perf_event_open", ("SYS_ADMIN",)),
    ("keyctl", ()), ("add_key", ()), ("request_key", ()), ("userfaultfd", ()),
    ("ptrace", ()), ("process_vm_readv", ("SYS_PTRACE",)), ("kcmp", ("SYS_PTRACE",)),
    ("reboot", ("SYS_BOOT",)), ("kexec_load", ("SYS_BOOT",)),
    ("init_module", ("SYS_MODULE",)), ("finit_module", ("SYS_MODULE",)), ("delete_module", ("SYS_MODULE",)),
    ("acct", ("SYS_PACCT",)), ("iopl", ("SYS_RAWIO",)), ("ioperm", ("SYS_RAWIO",)),
    ("settimeofday", ("SYS_TIME",)), ("clock_settime", ("SYS_TIME",)), ("open_by_handle_at", ("DAC_READ_SEARCH",)),
    ("clone", ("SYS_ADMIN",)), ("personality", ()), ("socket", ()),
)  # fmt: skip
# Harmless calls hardlab-probe knows on both ABIs; the first the profile does not allow is "never made".
NEVER_MADE_CANDIDATES = ("fchownat", "chown", "lchown", "fchown", "getpid")
# Argument-filtered calls: their probe uses arguments the filter refuses, so they stay in the sample
# even when the workload made the call.
ARG_FILTERED = ("clone", "personality", "socket")


@dataclass(frozen=True)
class Workload:
    command: str
    exit_code: int


def probed(profile_allows: Iterable[str]) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    """The dangerous rows to probe, and the ones left out because the learned profile allows them."""
    allows = set(profile_allows)
    rows = [(n, g) for n, g in DANGEROUS if n in ARG_FILTERED or n not in allows]
    return rows, [n for n, _ in DANGEROUS if n not in ARG_FILTERED and n in allows]


def never_made(profile_allows: Iterable[str]) -> str | None:
    allows = set(profile_allows)
    return next((n for n in NEVER_MADE_CANDIDATES if n not in allows), None)


def probe_syscalls(profile_allows: Iterable[str]) -> list[str]:
    """Every syscall a refusal case probes (the probe profile must not allow these)."""
    rows, _ = probed(profile_allows)
    made = never_made(profile_allows)
    return sorted({n for n, _ in rows} | {"clone3"} | ({made} if made else set()))


def toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value)


def toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(toml_str(v) for v in values) + "]"


def toml_value(value: Any) -> str:
    """A TOML inline value of a container option (strings, integers, booleans, lists, tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_str(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def workload_cases(
    workloads: Sequence[Workload], container: Mapping[str, Any], confined: str, *, titled: str, learned: str,
    default: str, comment: str,
) -> list[str]:
    """TOML lines of a proof's workload cases: each workload, as the container's main process with its own
    run options, exits as recorded under `confined` (the security_opt list as TOML) and, in the control,
    under the engine's default. `titled`/`learned` name the learned profile in the case's title and step,
    `default`/`comment` the engine's in the control's step and option line."""
    own = "".join(f", {k} = {toml_value(v)}" for k, v in container.items())
    out: list[str] = []
    for n, w in enumerate(workloads, 1):
        argv = toml_list(["/bin/sh", "-c", w.command])
        out += [
            "",
            "[[case]]",
            f'id = "workload-{n}"',
            f"title = {toml_str(f'the workload runs under {titled}: ' + w.command)}",
            f"container = {{ command = {argv}, security_opt = {confined}{own} }}",
            "",
            "[[case.step]]",
            f"name = {toml_str(w.command + ' exits ' + str(w.exit_code) + ' under ' + learned)}",
            "wait = true",
            f"exit_code = {w.exit_code}",
            "",
            "[case.control]",
            f"container = {{ command = {argv}, security_opt = []{own} }}  # {comment}",
            "",
            "[[case.control.step]]",
            f"name = {toml_str('the same workload under ' + default)}",
            "wait = true",
            f"exit_code = {w.exit_code}",
        ]
    return out


def scenario(
    name: str,
    image: str,
    workloads: Sequence[Workload],
    profile_file: str,
    probe_profile_file: str,
    profile_allows: Iterable[str],
    timeout: float = 60,
    container: Mapping[str, Any] = {},
) -> str:
    """The scenario TOML proving `profile_file` (a path relative to the scenario). `container` holds the
    workload's own run options: its cases and their controls run with them, the probes without."""
    allows = set(profile_allows)
    rows, _ = probed(allows)
    made = never_made(allows)
    out = [
        "# Written by `hardlab learn`: the proof of the learned profile next to it. Run it again with",
        f"#   hardlab run {name}.toml   (or: python -m pytest {name}.toml)",
        "schema_version = 1",
        "",
        "[scenario]",
        f"id = {toml_str('learned-' + name)}",
        f"title = {toml_str('The profile learned for ' + name + ' runs the workload and refuses the rest')}",
        'description = """',
        "The workload exits as recorded under the learned profile (control: the same workload under the",
        "engine's default profile). Docker's dangerous syscalls, clone3 and a syscall the workload never",
        "made are refused on x86_64 and through the i386 ABI; those probes run under the probe profile",
        "(the learned one plus the prober's own needs, never the probed calls), which answers every probed",
        "call exactly as the learned profile does.",
        '"""',
        'tags = ["seccomp", "learned"]',
        'requires = ["seccomp", "x86_64"]',
        'references = ["hardlab learn (issue 13)", "moby profiles/seccomp/default.json"]',
        'remediation = "Re-record the workload (hardlab learn) or widen the profile with --allow NAME."',
        "",
        "[defaults]",
        f"image = {toml_str(image)}",
        f"timeout = {timeout:g}",
    ]
    out += workload_cases(workloads, container, toml_list(["seccomp=" + profile_file]), titled="the learned profile",
                          learned="the learned profile", default="the engine's default profile",
                          comment="the engine's default profile")  # fmt: skip
    probe_opt = toml_list(["seccomp=" + probe_profile_file])
    rows_toml = ",\n".join(
        f"  {{ syscall = {toml_str(n)}, probe = {toml_str(prober.filter_only(n))}, gate = {toml_list(g)} }}"
        for n, g in rows
    )
    out += [
        "",
        "[[case]]",
        'id = "refuses-${syscall}"',
        'title = "${syscall} (Docker\'s dangerous table) is refused under the learned profile"',
        'abis = ["x86_64", "i386"]',
        f"container = {{ security_opt = {probe_opt} }}",
        f"parametrize = [\n{rows_toml},\n]",
        "",
        "[[case.step]]",
        'name = "${syscall} under the learned profile"',
        'syscall = "${probe}"',
        "exit_code = 0",
        'errno = ["EPERM", "ENOSYS"]',
        "",
        "[case.control]",
        'container = { security_opt = ["seccomp=unconfined"], cap_add = "${gate}" }',
        "",
        "[[case.control.step]]",
        'name = "${syscall} unconfined (with its gating capability) reaches the kernel"',
        'syscall = "${probe}"',
        "exit_code = 0",
        'errno_not = ["EPERM"]',
        'skip_when = { stdout_contains = "errno=ENOSYS", reason = "this kernel does not implement ${syscall} '
        'on this ABI (ENOSYS even unconfined): its refusal cannot be observed" }',
        "",
        "[[case]]",
        'id = "clone3-enosys"',
        'title = "clone3 answers ENOSYS (moby#42681), so callers fall back to the filtered clone"',
        'abis = ["x86_64", "i386"]',
        f"container = {{ security_opt = {probe_opt} }}",
        "",
        "[[case.step]]",
        'name = "clone3 under the learned profile"',
        f"syscall = {toml_str(prober.filter_only('clone3'))}",
        "exit_code = 0",
        'errno = "ENOSYS"',
        "",
        "[case.control]",
        'container = { security_opt = ["seccomp=unconfined"] }',
        "",
        "[[case.control.step]]",
        'name = "clone3 unconfined reaches the kernel (EINVAL: size 0)"',
        f"syscall = {toml_str(prober.filter_only('clone3'))}",
        "exit_code = 0",
        'errno_not = ["ENOSYS", "EPERM"]',
    ]
    if made:
        out += [
            "",
            "[[case]]",
            f"id = {toml_str('never-made-' + made)}",
            f"title = {toml_str(made + ', which the workload never made, is refused')}",
            'abis = ["x86_64", "i386"]',
            f"container = {{ security_opt = {probe_opt} }}",
            "",
            "[[case.step]]",
            f"name = {toml_str(made + ' under the learned profile')}",
            f"syscall = {toml_str(made)}",
            "exit_code = 0",
            'errno = "EPERM"',
            "",
            "[case.control]",
            "container = { security_opt = [] }  # the engine's default profile allows it",
            "",
            "[[case.control.step]]",
            f"name = {toml_str(made + ' under the default profile reaches the kernel')}",
            f"syscall = {toml_str(made)}",
            "exit_code = 0",
            'errno_not = ["EPERM", "ENOSYS"]',
        ]
    return "\n".join(out) + "\n"
