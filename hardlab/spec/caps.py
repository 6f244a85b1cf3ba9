"""Linux capability names and the masks the kernel writes in /proc/<pid>/status."""

from __future__ import annotations

# Index = capability number (include/uapi/linux/capability.h). Kernels >= 5.9 know 41 (0..40).
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}

# What Docker grants a container by default (moby oci/caps/defaults.go): mask 00000000a80425fb.
DOCKER_DEFAULT: frozenset[str] = frozenset(
    "CAP_" + n
    for n in (
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
        "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    )
)  # fmt: skip

# Named sets a scenario can write instead of listing names.
NAMED_SETS = {"@docker-default", "@all", "@none", "@engine"}  # @engine: the engine's own set (core.rules)

STATUS_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def cap_name(number: int) -> str:
    """Name of capability `number`; numbers this table does not know read as CAP_<n>."""
    return CAP_NAMES[number] if number < len(CAP_NAMES) else f"CAP_{number}"


def normalize(name: str) -> str:
    """'sys_time', 'SYS_TIME' and 'CAP_SYS_TIME' all mean CAP_SYS_TIME."""
    upper = name.strip().upper()
    return upper if upper.startswith("CAP_") else "CAP_" + upper


def is_known(name: str) -> bool:
    return normalize(name) in CAP_NUMBERS


def decode(mask: str | int) -> frozenset[str]:
    """Capability names set in a mask such as '00000000a80425fb' (hex, as the kernel writes it)."""
    value = int(mask, 16) if isinstance(mask, str) else mask
    return frozenset(cap_name(bit) for bit in range(64) if value >> bit & 1)


def encode(names: set[str] | frozenset[str]) -> str:
    """The 16-hex-digit mask for a set of names (the inverse of `decode`)."""
    value = 0
    for name in names:
        key = normalize(name)
        value |= 1 << (CAP_NUMBERS[key] if key in CAP_NUMBERS else int(key.removeprefix("CAP_")))
    return f"{value:016x}"


def all_caps(last_cap: int) -> frozenset[str]:
    """Every capability a kernel whose /proc/sys/kernel/cap_last_cap is `last_cap` knows."""
    return frozenset(cap_name(i) for i in range(last_cap + 1))


def expand(spec: list[str], last_cap: int | None) -> frozenset[str]:
    """Expand a scenario's capability list (names and @sets, `-NAME` removes) to names.

    `@all` needs the kernel's cap_last_cap, because its width depends on the kernel (41 on >= 5.9).
    """
    result: set[str] = set()
    for item in spec:
        remove = item.startswith("-")
        token = item[1:] if remove else item
        if token == "@docker-default":
            names: frozenset[str] = DOCKER_DEFAULT
        elif token == "@none":
            names = frozenset()
        elif token == "@all":
            if last_cap is None:
                raise ValueError("@all needs the kernel's cap_last_cap, which was not observed")
            names = all_caps(last_cap)
        else:
            names = frozenset({normalize(token)})
        result = result - names if remove else result | names
    return frozenset(result)
