"""The prober's names as the spec reads them from its source (no engine: the source is package data)."""

from __future__ import annotations

import ast

import pytest

from hardlab.spec.prober import known_syscalls, prober_source

pytestmark = pytest.mark.unit
NEW = ("uname", "clone3", "socket-alg", "socket-packet", "socket-icmp", "personality-query")


def _literal(name: str) -> dict[str, str]:
    tree = ast.parse(prober_source().read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == name)
    value = ast.literal_eval(node.value)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("abi", ["x86_64", "i386"])
def test_the_new_probes_are_known_on_both_abis(abi: str) -> None:
    known = known_syscalls(abi)
    assert known is not None and set(NEW) <= known


def test_x32_stays_getpid_only() -> None:
    assert known_syscalls("x32") == {"getpid", "raw-socket"}


def test_every_gate_names_a_known_probe_and_every_variant_a_real_syscall() -> None:
    known = known_syscalls("x86_64") or frozenset()
    assert set(_literal("GATES")) <= known | {"stime", "umount"}  # i386-only calls
    nr = _literal("NR")
    assert all(base in nr for base in _literal("VARIANTS").values())
