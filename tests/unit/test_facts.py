"""Engine facts decoded from the probe's raw answers (hardlab.core.facts), and their round trip."""

from __future__ import annotations

import json

from hardlab.core import facts
from hardlab.engine.behaviour import probe_answers
from hardlab.engine.probe import Feature, HostFacts

# What Debian 12's 20.10.24 and Debian 13's 26.1.5 answered in a default container on this project's VM.
ANSWERS_20_10 = {"socket": "OK", "process_vm_readv": "EPERM", "name_to_handle_at": "EPERM", "clone3": "ENOSYS"}
ANSWERS_26_1 = {"socket": "EPERM", "process_vm_readv": "OK", "name_to_handle_at": "ENOTSUP", "clone3": "ENOSYS"}


def test_versions_compare_as_numbers() -> None:
    assert facts.version_tuple("26.1.5+dfsg1") == (26, 1, 5)
    assert facts.version_tuple("20.10.24+dfsg1") < facts.version_tuple("23.0") < facts.version_tuple("26.1.5")
    assert facts.version_tuple("6.18.44-fc-v1045") == (6, 18, 44)
    assert facts.version_tuple("v1.8") == (1, 8)
    assert facts.version_tuple(None) == () and facts.version_tuple("dev") == ()


def test_runtime_versions_from_their_own_output() -> None:
    crun = "crun version 1.8.1\ncommit: f8a096be\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SECCOMP\n"
    assert facts.runtime_version(crun) == "1.8.1"
    assert facts.runtime_version("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\n") == "1.1.5+ds1"
    assert facts.runtime_version("no version here") is None


def test_the_default_runtime_and_its_version_come_from_info_and_version() -> None:
    info = {"DefaultRuntime": "crun"}
    version = {"Components": [{"Name": "Engine", "Version": "26.1.5"}, {"Name": "crun", "Version": "1.8.1"}]}
    assert facts.runtime_from_engine(info, version) == ("crun", "1.8.1")
    version = {"Components": [{"Name": "runc", "Version": "1.1.5+ds1"}]}
    assert facts.runtime_from_engine({"DefaultRuntime": "runc"}, version) == ("runc", "1.1.5+ds1")
    assert facts.runtime_from_engine({"DefaultRuntime": "youki"}, {}) == ("youki", None)


def test_cgroup_layouts() -> None:
    unified = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"
    hybrid = (
        "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"
    )
    legacy = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
    assert facts.cgroup_layout(unified, None).mode == "unified"
    layout = facts.cgroup_layout(hybrid, "hugetlb\n")
    assert layout == facts.CgroupLayout("hybrid", ("hugetlb",))
    assert "holds controllers: hugetlb" in layout.describe
    assert facts.cgroup_layout(hybrid, "").v2_controllers == ()
    assert facts.cgroup_layout(legacy, None).mode == "legacy"
    assert facts.cgroup_layout("", None).mode == "unknown"


def test_profile_generations_by_behaviour() -> None:
    old = facts.profile_generation(ANSWERS_20_10)
    assert (old.af_vsock_refused, old.process_vm_allowed, old.name_to_handle_at_allowed, old.clone3_enosys) == (
        False, False, False, True,
    )  # fmt: skip
    assert old.label.startswith("moby 20.10 profile")
    new = facts.profile_generation(ANSWERS_26_1)
    assert (new.af_vsock_refused, new.process_vm_allowed, new.name_to_handle_at_allowed) == (True, True, True)
    assert new.label.startswith("moby >= 24.0 profile")
    # 20.10.26 (name_to_handle_at backported, AF_VSOCK reverted): a mix, named marker by marker.
    mixed = facts.profile_generation({**ANSWERS_20_10, "name_to_handle_at": "ENOTSUP"})
    assert mixed.label == (
        "mixed: AF_VSOCK socket refused=no, process_vm_readv/writev allowed=no, name_to_handle_at allowed=yes"
    )


def test_a_profile_that_could_not_be_measured_says_why() -> None:
    unknown = facts.profile_generation({}, error="lab:tools is not on this engine")
    assert unknown.af_vsock_refused is None and unknown.label == "unknown (lab:tools is not on this engine)"
    partial = facts.profile_generation({"socket": "EPERM"})
    assert partial.label == "unknown (not every marker was measured)"
    # A filter that kills the caller (SIGSYS) refused the call as surely as EPERM.
    assert facts.profile_generation({"process_vm_readv": "SIGSYS"}).process_vm_allowed is False


def test_abis() -> None:
    assert facts.abis_accepted({"x86_64": "OK", "i386": "OK", "x32": "ENOSYS"}) == {
        "x86_64": True, "i386": True, "x32": False,
    }  # fmt: skip
    assert facts.abis_accepted({"x86_64": "OK"}) == {"x86_64": True, "i386": None, "x32": None}


def test_privileged_is_the_engines_own_bounding_set_by_name() -> None:
    status = "Name:\tcat\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n"
    mask = facts.capbnd_from_status(status)
    assert mask == "000001fffeffffff"
    priv = facts.Privileged(True, mask)
    assert len(priv.names) == 40 and "CAP_SYS_ADMIN" in priv.names
    assert priv.missing(40) == {"CAP_SYS_RESOURCE"}  # this VM's root lacks it, so the engine cannot grant it
    assert facts.Privileged(True, "000001ffffffffff").missing(40) == frozenset()  # a normal host: everything
    assert facts.Privileged(False, None).missing(40) == frozenset()
    assert facts.capbnd_from_status("no caps here") is None


def test_engine_facts_round_trip_and_render() -> None:
    measured = facts.EngineFacts(
        engine_version="26.1.5+dfsg1", runtime="runc", runtime_version="1.1.5+ds1", kernel="6.18.44",
        cgroup_version="1", rootless=False, cap_last_cap=40, profile=facts.profile_generation(ANSWERS_26_1),
        abis={"x86_64": True, "i386": True, "x32": False}, privileged=facts.Privileged(True, "000001fffeffffff"),
    )  # fmt: skip
    again = facts.EngineFacts.from_dict(json.loads(json.dumps(measured.to_dict())))
    assert again == measured
    assert again.versions()["engine"] == (26, 1, 5)
    text = "\n".join(again.lines())
    assert "runc 1.1.5+ds1" in text and "x86_64 yes, i386 yes, x32 no" in text
    assert "CapBnd 000001fffeffffff = 40 capabilities, lacking CAP_SYS_RESOURCE" in text
    assert facts.EngineFacts.from_dict(None) == facts.EngineFacts()


def test_host_facts_without_engine_facts_still_load() -> None:
    feature = {"ok": True, "evidence": "docker info"}
    old = json.dumps({"engine": {"server_version": "20.10"}, "kernel": {}, "features": {"seccomp": feature}})
    host = HostFacts.from_json(old)
    assert host.facts == {} and host.engine_facts == facts.EngineFacts()
    assert host.features["seccomp"] == Feature(True, "docker info")
    host.facts = facts.EngineFacts(engine_version="26.1.5").to_dict()
    assert HostFacts.from_json(host.to_json()).engine_facts.engine_version == "26.1.5"


def test_probe_lines_parse_per_abi() -> None:
    output = (
        "syscall=stime ret=-1 errno=ENOSYS (no such syscall on x86_64: it exists only on 32-bit x86)\n"
        "syscall=stime abi=i386 ret=-1 errno=EPERM\n"
        "syscall=chown32 abi=i386 ret=-1 errno=SIGSYS (the process was killed: the filter refuses this ABI)\n"
        "40\n"
    )
    assert probe_answers(output) == {
        ("stime", "x86_64"): "ENOSYS", ("stime", "i386"): "EPERM", ("chown32", "i386"): "SIGSYS",
    }  # fmt: skip
