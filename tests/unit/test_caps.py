"""Capability names and the hex masks of /proc/<pid>/status."""

from __future__ import annotations

import random

import pytest

from hardlab.spec import caps

DOCKER_14 = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
}  # fmt: skip


def test_the_docker_default_mask_is_the_14_default_capabilities() -> None:
    assert caps.decode("00000000a80425fb") == DOCKER_14
    assert len(DOCKER_14) == 14
    assert caps.DOCKER_DEFAULT == DOCKER_14
    assert caps.encode(DOCKER_14) == "00000000a80425fb"


def test_a_full_mask_on_a_cap_last_cap_37_kernel() -> None:
    # A 5.x kernel before CAP_PERFMON (38) writes CapBnd 0000003fffffffff for a privileged process.
    got = caps.decode("0000003fffffffff")
    assert got == caps.all_caps(37)
    assert len(got) == 38
    assert "CAP_AUDIT_READ" in got and "CAP_PERFMON" not in got
    assert caps.encode(caps.all_caps(40)) == "000001ffffffffff"


def test_known_bit_numbers() -> None:
    assert caps.CAP_NUMBERS["CAP_SYS_ADMIN"] == 21
    assert caps.CAP_NUMBERS["CAP_NET_RAW"] == 13
    assert caps.CAP_NUMBERS["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.encode({"CAP_SYS_ADMIN"}) == "0000000000200000"


def test_empty_and_integer_masks() -> None:
    assert caps.decode("0000000000000000") == frozenset()
    assert caps.encode(frozenset()) == "0000000000000000"
    assert caps.decode(1 << 13) == {"CAP_NET_RAW"}


def test_bits_this_table_does_not_name_round_trip() -> None:
    # A newer kernel may set bit 41+; they read as CAP_<n> and encode back to the same bit.
    assert caps.decode("0000020000000000") == {"CAP_41"}
    assert caps.encode({"CAP_41", "CAP_CHOWN"}) == "0000020000000001"


@pytest.mark.parametrize("seed", range(5))
def test_decode_encode_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        mask = f"{rng.getrandbits(64):016x}"
        assert caps.encode(caps.decode(mask)) == mask
    for _ in range(50):
        names = frozenset(rng.sample(caps.CAP_NAMES, rng.randint(0, len(caps.CAP_NAMES))))
        assert caps.decode(caps.encode(names)) == names


@pytest.mark.parametrize("name", ["sys_time", "SYS_TIME", "CAP_SYS_TIME", " cap_sys_time "])
def test_names_are_normalized(name: str) -> None:
    assert caps.normalize(name) == "CAP_SYS_TIME"
    assert caps.is_known(name)
    assert caps.encode({name}) == caps.encode({"CAP_SYS_TIME"})


@pytest.mark.parametrize("name", ["NET_ADMN", "CAP_", "ALL", "@all", ""])
def test_unknown_names(name: str) -> None:
    assert not caps.is_known(name)


def test_expand_named_sets_and_removals() -> None:
    assert caps.expand(["@docker-default"], None) == DOCKER_14
    assert caps.expand(["@none"], None) == frozenset()
    assert caps.expand([], None) == frozenset()
    assert caps.expand(["@all"], 40) == frozenset(caps.CAP_NAMES)
    assert caps.expand(["@all", "-NET_RAW", "-cap_sys_admin"], 40) == set(caps.CAP_NAMES) - {
        "CAP_NET_RAW",
        "CAP_SYS_ADMIN",
    }
    assert caps.expand(["@docker-default", "-NET_RAW", "net_admin"], None) == (DOCKER_14 - {"CAP_NET_RAW"}) | {
        "CAP_NET_ADMIN"
    }
    assert caps.expand(["@all", "-@docker-default"], 37) == caps.all_caps(37) - DOCKER_14
    assert caps.expand(["@none", "chown"], None) == {"CAP_CHOWN"}


def test_expand_applies_items_in_order() -> None:
    assert caps.expand(["-CHOWN", "CHOWN"], None) == {"CAP_CHOWN"}
    assert caps.expand(["CHOWN", "-CHOWN"], None) == frozenset()


def test_all_needs_the_kernels_cap_last_cap() -> None:
    with pytest.raises(ValueError, match="cap_last_cap"):
        caps.expand(["@all"], None)
    assert caps.expand(["@all"], 37) != caps.expand(["@all"], 40)
