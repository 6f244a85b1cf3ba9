"""hardlab learn's pure parts: strace output -> syscalls per ABI -> profile JSON -> proof scenario."""

from __future__ import annotations

import json
from pathlib import Path

from hardlab.learn import profile as gen
from hardlab.learn import proof, runtime, trace
from hardlab.spec import load, seccomp_text_problems

STRACE = """\
10    execve("/usr/bin/sh", ["sh", "-c", "x"], 0x7ffd /* 4 vars */) = 0
10    openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3
10    read(3,  <unfinished ...>
11    clone3({flags=CLONE_VM, ...} <unfinished ...>
10    <... read resumed>"abc\\n", 131072) = 4
11    [ Process PID=11 runs in 32 bit mode. ]
11    chown32("/tmp/f", -1, -1)          = 0
11    [ Process PID=11 runs in 64 bit mode. ]
11    getpid()                          = 11
[pid    12] syscall_0x1b3(0x1, 0x2) = -1 ENOSYS (Function not implemented)
10    --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
10    +++ exited with 0 +++
11    [  20] getpid()                 = 11
"""


def test_trace_per_abi_and_skips_non_calls():
    rec = trace.parse(STRACE)
    assert rec.calls["x86_64"] == {"execve", "openat", "read", "clone3", "getpid"}
    assert rec.calls["i386"] == {"chown32"}
    assert rec.unknown == {"syscall_0x1b3"}
    assert "resumed" not in rec.all() and "exited" not in rec.all()


def test_profile_denies_by_default_on_every_abi():
    prof = gen.generate({"read", "write"}, {"execve": "runc"}, runtime_version="runc 1.1")
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == 1
    assert prof["archMap"] == [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}
    ]
    assert gen.allowed(prof) == {"read", "write", "execve"}
    assert not seccomp_text_problems(gen.to_json(prof), "p.json")


def test_clone3_enosys_and_docker_argument_filters():
    prof = gen.generate({"clone3", "personality", "socket"}, {})
    rules = {(r["names"][0], json.dumps(r.get("args"))): r for r in prof["syscalls"]}
    clone3 = next(r for r in prof["syscalls"] if r["names"] == ["clone3"])
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38
    clone = next(r for r in prof["syscalls"] if r["names"] == ["clone"])  # glibc's fallback, filtered
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    personas = [r["args"][0]["value"] for r in prof["syscalls"] if r["names"] == ["personality"]]
    assert personas == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    sock = next(r for r in prof["syscalls"] if r["names"] == ["socket"])
    assert sock["args"] == [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]
    assert not any(r.get("args") is None and set(r["names"]) & {"clone", "socket"} for r in rules.values())


def test_allow_extra_has_its_reason_and_without_removes():
    prof = gen.generate({"read"}, {}, {"mlock": "the cache pins pages"})
    assert any(r["names"] == ["mlock"] and "pins pages" in r["comment"] for r in prof["syscalls"])
    broken = gen.without(prof, ["read"])
    assert gen.allowed(broken) == {"mlock"}
    assert gen.allowed(gen.with_allowed(broken, ["read", "socket"], "x")) == {"mlock", "read", "socket"}


def test_runtime_list_is_versioned_and_explained():
    rt = runtime.load()
    assert rt.version and {"execve", "exit_group", "futex", "capset", "faccessat2"} <= set(rt.reasons)
    assert all(len(reason) > 10 for reason in rt.reasons.values())


def test_proof_scenario_loads_and_covers_both_abis(tmp_path: Path):
    prof = gen.generate({"read", "write", "mount"}, {})
    (tmp_path / "p.json").write_text(gen.to_json(prof))
    (tmp_path / "p.probe.json").write_text(gen.to_json(prof))
    text = proof.scenario("p", "lab:tools", [proof.Workload("cat /etc/hostname", 0)], "p.json", "p.probe.json",
                          gen.allowed(prof))  # fmt: skip
    (tmp_path / "p.toml").write_text(text)
    ids = [c.id for c in load(tmp_path / "p.toml").cases]
    assert "workload-1" in ids and "refuses-unshare" in ids and "refuses-unshare-i386" in ids
    assert "refuses-mount" not in ids  # the workload made mount: the profile allows it, the CLI says so
    assert "never-made-fchownat-i386" in ids and "clone3-enosys-i386" in ids
    assert proof.probed(gen.allowed(prof))[1] == ["mount"]
    assert "mount" not in proof.probe_syscalls(gen.allowed(prof))
