"""The prober's names as the spec reads them from its source (no engine: the source is package data)."""

from __future__ import annotations

import ast

import pytest

from hardlab.spec.prober import known_syscalls, prober_source

pytestmark = pytest.mark.unit
NEW = (
    "uname", "clone3", "socket-alg", "socket-packet", "socket-icmp", "personality-query",
    "mount-seccomp", "clone3-seccomp",
)


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


def test_a_huge_or_endless_seccomp_path_is_a_bounded_sentence(tmp_path) -> None:
    """A scenario's seccomp= path at a 3 GB (sparse) file, /dev/zero or a FIFO: refused without reading it."""
    import os
    import resource

    from hardlab import spec

    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate(3 << 30)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    messages = []
    for path in (huge, fifo, "/dev/zero"):
        bad = tmp_path / "s.toml"
        bad.write_text(f'schema_version = 1\n[scenario]\ntitle = "t"\n[[case]]\nid = "c"\n'
                       f'container = {{ security_opt = ["seccomp={path}"] }}\nno_control_reason = "x"\n'
                       '[[case.step]]\nexec = ["true"]\nexit_code = 0\n')  # fmt: skip
        with pytest.raises(spec.ScenarioError) as err:
            spec.load(bad)
        messages.append(str(err.value))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: nothing was read
    assert f"seccomp profile {huge} is 3221225472 bytes, more than a profile can be (1048576 bytes)" in messages[0]
    assert f"seccomp profile {fifo} is not a regular file" in messages[1]
    assert "seccomp profile /dev/zero is not a regular file" in messages[2]
    assert all(":6: case[0].container.security_opt[0]: " in m for m in messages), messages


def test_filter_only_picks_the_variant_no_capability_decides() -> None:
    from hardlab.spec.prober import filter_only

    assert filter_only("mount") == "mount-seccomp" and filter_only("clone3") == "clone3-seccomp"
    assert filter_only("keyctl") == "keyctl"  # no capability gate: the plain call is the filter's alone
