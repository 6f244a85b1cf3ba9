"""The names a scenario may use: host features, input kinds, errno names, runners and lab uses."""

from __future__ import annotations

# Host features a scenario or case `requires`; the probe (hardlab.engine.probe) says which a host has.
FEATURES = {
    "seccomp": "the engine applies seccomp profiles (docker info: seccomp)",
    "apparmor": "the kernel has AppArmor enabled and the engine uses it",
    "selinux": "the engine runs with SELinux support",
    "userns-remap": "the engine runs with user-namespace remapping (userns-remap)",
    "user-namespaces": "the kernel lets an unprivileged process create a user namespace",
    "privileged": "the engine can start --privileged containers",
    "cgroup-pids": "the pids cgroup controller is available",
    "cgroup-memory": "the memory cgroup controller is available",
    "kernel-config": "the kernel build config is readable (/boot/config-* or /proc/config.gz)",
    "rootful": "the engine runs as root (not rootless)",
    "local-engine": "the engine runs on this machine (host files can be read)",
    "x86_64": "the engine's host is x86_64",
    "i386-abi": "the kernel answers 32-bit x86 system calls from a 64-bit container (IA32 emulation)",
    "x32-abi": "the kernel answers x32 system calls (CONFIG_X86_X32_ABI)",
    "trust-lab": "docker-registry and notary-server are installed, or this is root on Debian and can install them",
}

INPUT_KINDS = {"seccomp", "apparmor", "file", "options", "text"}

ERRNO_NAMES = {
    "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD", "EAGAIN",
    "ENOMEM", "EACCES", "EFAULT", "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL",
    "ENFILE", "EMFILE", "ENOTTY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "ERANGE",
    "ENOSYS", "EOPNOTSUPP", "EAFNOSUPPORT", "EPROTONOSUPPORT", "ENOPKG", "ENOKEY", "EBADMSG", "OK",
    "ENAMETOOLONG", "SIGSYS", "ENOTSUP", "ENOTSOCK", "ESOCKTNOSUPPORT", "EPROTOTYPE", "EKEYREJECTED", "ENOTBLK",
}  # fmt: skip

RUNNERS = ("container", "host")
# A scenario's or case's `severity`: allure's levels (its report sorts and filters by them); "normal" unless said.
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
DEFAULT_SEVERITY = "normal"
USES = {"trust-lab": "the session's content-trust lab", "trust-lab:own": "a content-trust lab of its own"}
