"""The system calls hardlab-probe knows, per ABI, read from the prober's own source (its NR tables), so a
`syscall = "..."` step naming one it does not know is a problem of the scenario file, found at load."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from hardlab import config

# Probes the prober handles before its syscall tables (hardlab-probe main() and call()), with their ABIs.
SPECIAL = {"raw-socket": ("x86_64", "i386", "x32"), "adjtimex-set": ("x86_64",), "clock_adjtime-set": ("x86_64",)}
TABLES = {"x86_64": "NR", "i386": "NR_I386"}
X32 = ("getpid",)  # --abi x32 probes getpid only


def prober_source() -> Path:
    return config.recipes_dir() / "tools" / "hardlab-probe"


@functools.lru_cache(maxsize=4)
def _known(source: Path) -> dict[str, frozenset[str]] | None:
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    tables: dict[str, frozenset[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
                    tables[target.id] = frozenset(k for k in keys if isinstance(k, str))
    if not all(name in tables for name in TABLES.values()):
        return None
    # VARIANTS: probe names that make one of the table's syscalls with other arguments (socket-alg).
    variants = tables.get("VARIANTS", frozenset())
    known = {abi: tables[name] | variants for abi, name in TABLES.items()}
    known["x32"] = frozenset(X32)
    for probe, abis in SPECIAL.items():
        for abi in abis:
            known[abi] = known[abi] | {probe}
    return known


def known_syscalls(abi: str) -> frozenset[str] | None:
    """What `hardlab-probe --abi ABI NAME` accepts as NAME; None when the prober's source cannot be read
    (a recipes folder of one's own without it): then nothing is checked."""
    known = _known(prober_source())
    return None if known is None else known.get(abi, frozenset())


def filter_only(name: str) -> str:
    """The probe of NAME that only a seccomp filter can refuse: hardlab-probe's NAME-seccomp variant where it
    has one (the plain call reaches a capability check, so without the capability it answers EPERM whatever
    the profile says), else NAME itself."""
    known = known_syscalls("x86_64")
    variant = f"{name}-seccomp"
    return variant if known is not None and variant in known else name
