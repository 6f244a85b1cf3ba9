"""hardlab learn --lsm apparmor, the pure parts: audit records -> what the workload did -> enforce profile ->
proof scenario; the kernel-log reader on files; the CLI's refusal on a host without AppArmor."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.cli import learn as cli
from hardlab.learn import aa_log, aa_profile, aa_proof
from hardlab.learn.proof import Workload
from hardlab.spec import load
from hardlab.system import apparmor, kernlog

P = "hardlab-learn-nmap"
LINES = [
    # what /dev/kmsg holds when no auditd runs (the message part of each record)
    f'audit: type=1400 audit(1733233000.120:40): apparmor="STATUS" operation="profile_replace" profile="unconfined" '
    f'name="{P}" pid=700 comm="apparmor_parser"',
    f'audit: type=1400 audit(1733233000.123:41): apparmor="ALLOWED" operation="exec" profile="{P}" '
    f'name="/usr/bin/nmap" pid=811 comm="sh" requested_mask="x" denied_mask="x" fsuid=0 ouid=0 '
    f'target="{P}//null-/usr/bin/nmap"',
    f'audit: type=1400 audit(1733233000.123:41): apparmor="AUDIT" operation="exec" profile="{P}" '
    f'name="/usr/bin/id" pid=811 comm="sh" requested_mask="x" fsuid=0 ouid=0 target="{P}"',
    f'audit: type=1400 audit(1733233000.124:42): apparmor="ALLOWED" operation="file_mmap" profile="{P}" '
    f'name="/usr/lib/x86_64-linux-gnu/libc.so.6" pid=810 comm="sh" requested_mask="rm" denied_mask="rm" fsuid=0',
    f'audit: type=1400 audit(1733233000.125:43): apparmor="ALLOWED" operation="open" profile="{P}//null-/usr/bin/nmap" '
    f'name="/usr/share/nmap/nmap-services" pid=811 comm="nmap" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.126:44): apparmor="ALLOWED" operation="open" profile="{P}//null-/usr/bin/nmap" '
    f'name="/proc/811/net/dev" pid=811 comm="nmap" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.127:45): apparmor="ALLOWED" operation="mknod" profile="{P}" '
    f'name="/tmp/out" pid=810 comm="sh" requested_mask="c" denied_mask="c" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.128:46): apparmor="ALLOWED" operation="open" profile="{P}" '
    f'name="/tmp/out" pid=810 comm="sh" requested_mask="wc" denied_mask="wc" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.129:47): apparmor="ALLOWED" operation="open" profile="{P}" '
    f'name="/var/log/app.log" pid=810 comm="sh" requested_mask="a" denied_mask="a" fsuid=0 ouid=0',
    # an unquoted hex name: the kernel encodes names with spaces or quotes
    f'audit: type=1400 audit(1733233000.130:48): apparmor="ALLOWED" operation="open" profile="{P}" '
    f'name=2F746D702F612062 pid=810 comm="sh" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.131:49): apparmor="ALLOWED" operation="capable" profile="{P}" pid=812 '
    f'comm="ping" capability=13  capname="net_raw"',
    f'audit: type=1400 audit(1733233000.132:50): apparmor="ALLOWED" operation="create" profile="{P}" pid=812 '
    f'comm="ping" family="inet" sock_type="raw" protocol=1 requested_mask="create" denied_mask="create"',
    f'audit: type=1400 audit(1733233000.133:51): apparmor="ALLOWED" operation="signal" profile="{P}" pid=810 '
    f'comm="sh" requested_mask="send" denied_mask="send" signal=term peer="{P}//null-/usr/bin/nmap"',
    f'audit: type=1400 audit(1733233000.134:52): apparmor="ALLOWED" operation="ptrace" profile="{P}" pid=813 '
    f'comm="ps" requested_mask="read" denied_mask="read" peer="unconfined"',
    # another profile's record, a record of a longer name, a DENIED one: none counts while learning
    'audit: type=1400 audit(1733233000.135:53): apparmor="ALLOWED" operation="open" profile="other" '
    'name="/etc/shadow" pid=900 comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.136:54): apparmor="ALLOWED" operation="open" profile="{P}x" '
    'name="/etc/shadow" pid=900 comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    f'audit: type=1400 audit(1733233000.137:55): apparmor="DENIED" operation="open" profile="{P}" '
    'name="/etc/gshadow" pid=900 comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0',
    "eth0: link becomes ready",
]


def test_records_of_the_profile_and_its_learning_children_only():
    rec = aa_log.parse(LINES, P)
    assert rec.records == 13
    assert rec.files["/usr/bin/nmap"] == {"x"}
    assert rec.files["/usr/share/nmap/nmap-services"] == {"r"}, "the exec'd program's child profile counts"
    assert rec.files["/tmp/out"] == {"w"} and rec.files["/var/log/app.log"] == {"a"}
    assert rec.files["/tmp/a b"] == {"r"}, "hex-encoded names are decoded"
    assert "/etc/shadow" not in rec.files and "/etc/gshadow" not in rec.files
    assert rec.capabilities == {"net_raw"} and rec.network == {("inet", "raw")}
    assert rec.signals == {("send", "@self")} and rec.ptrace == {("read", "unconfined")}
    assert rec.execs() == ["/usr/bin/id", "/usr/bin/nmap"], "AUDIT records of the learning profile's execs count"
    # under the learning profile's `audit /** ix` the kernel logs a library's mmap as "r" only: file_mmap is m
    mmap = [ln.replace('requested_mask="rm" denied_mask="rm"', 'requested_mask="r" denied_mask="r"') for ln in LINES]
    assert aa_log.parse(mmap, P).files["/usr/lib/x86_64-linux-gnu/libc.so.6"] == {"r", "m"}


def test_denied_records_are_read_for_a_failing_proof():
    rec = aa_log.parse(LINES, P, learning=False)
    assert rec.denied == ["open /etc/gshadow (r) by x"] and rec.records == 0


def test_recording_round_trips_through_json():
    rec = aa_log.parse(LINES, P)
    again = aa_log.AaRecorded.from_json(rec.to_json())
    assert again.to_json() == rec.to_json()


def test_enforce_profile_has_docker_defaults_base_and_only_what_was_recorded():
    rec = aa_log.parse(LINES, P)
    text = aa_profile.generate("nmap", rec, ["nmap -n -sT localhost"], "lab:tools")
    assert text == aa_profile.generate("nmap", aa_log.parse(LINES, P), ["nmap -n -sT localhost"], "lab:tools")
    lines = [ln.strip() for ln in text.splitlines()]
    assert "#include <tunables/global>" in lines
    assert "profile hardlab-nmap flags=(attach_disconnected,mediate_deleted) {" in lines and lines[-1] == "}"
    # docker-default's base: signal and ptrace peers, the /proc and /sys refusals, no mount
    assert "signal (receive) peer=unconfined," in lines and "signal (receive,send) peer=hardlab-nmap," in lines
    assert "ptrace (read,readby,trace,tracedby) peer=hardlab-nmap," in lines
    assert "ptrace (read) peer=unconfined," in lines, "a recorded ptrace peer gets its rule"
    assert {"deny mount,", "deny @{PROC}/sysrq-trigger rwklx,", "deny /sys/firmware/** rwklx,"} <= set(lines)
    assert {"capability net_raw,", "network inet raw,"} <= set(lines)
    # files: merged perms, programs ix, run-specific ids globbed, names with spaces quoted
    assert {"/usr/bin/nmap ix,", "/usr/lib/x86_64-linux-gnu/libc.so.6 rm,", "/tmp/out w,", "/var/log/app.log a,",
            "/proc/[0-9]*/net/dev r,", '"/tmp/a b" r,'} <= set(lines)  # fmt: skip
    assert not any(ln in {"file,", "capability,", "network,"} for ln in lines), "nothing is allowed wholesale"
    assert aa_profile.rule_counts(text) == {"capability": 1, "network": 1, "file": 8, "exec": 2}
    assert apparmor.profile_names(text) == ["hardlab-nmap"]


def test_learning_profile_is_complain_mode_and_empty():
    text = aa_profile.learning_profile("nmap")
    assert "profile hardlab-learn-nmap flags=(attach_disconnected,mediate_deleted,complain) {\n" in text
    rules = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert rules[1:] == ["audit /** ix,", "}"], "only execs are covered (and logged): programs stay in it"
    assert apparmor.profile_names(text) == ["hardlab-learn-nmap"]


def test_paths_are_escaped_and_generalised():
    assert aa_profile.general_path("/proc/12/task/13/stat") == "/proc/[0-9]*/task/[0-9]*/stat"
    assert aa_profile.general_path("/dev/pts/3") == "/dev/pts/[0-9]*"
    assert aa_profile.general_path("/data/a*b[1]{x}") == r"/data/a\*b\[1\]\{x\}"
    assert aa_profile.general_path("/proc/sys/kernel/pid_max") == "/proc/sys/kernel/pid_max"


def test_proof_scenario_loads_and_probes_what_the_workload_never_did(tmp_path: Path):
    rec = aa_log.parse(LINES, P)
    text = aa_proof.scenario("nmap", "lab:tools", [Workload("nmap -n -sT localhost", 0)], rec.execs(), rec.files,
                             120, {"user": "root"})  # fmt: skip
    (tmp_path / "nmap.toml").write_text(text)
    sc = load(tmp_path / "nmap.toml")
    assert "apparmor" in sc.requires
    cases = {c.id: c for c in sc.cases}
    assert set(cases) == {"workload-1", "refuses-write-etc", "refuses-exec-ls"}, "id was run: ls is probed"
    assert cases["workload-1"].container["security_opt"] == ["apparmor=hardlab-nmap"]
    assert cases["workload-1"].container["user"] == "root"
    assert cases["workload-1"].control.container["security_opt"] == []  # type: ignore[union-attr]
    assert 126 in cases["refuses-exec-ls"].steps[0].expect.exit_code
    assert aa_proof.never_ran(["/usr/bin/id", "/usr/bin/ls"]) == "/usr/bin/touch"
    assert aa_proof.never_wrote({aa_proof.NEVER_WRITTEN: {"w"}}) is None


def test_audit_log_is_read_from_the_mark_only(tmp_path: Path):
    log = tmp_path / "audit.log"
    log.write_text("old line\n")
    mark = kernlog.mark(kmsg=tmp_path / "no-kmsg", audit_log=log)
    assert mark.kmsg_fd is None and "no-kmsg" in mark.problems[0]
    with open(log, "a") as f:
        f.write('type=AVC msg=audit(1.2:3): apparmor="ALLOWED" operation="open" profile="p" name="/x"\n')
    assert kernlog.since(mark) == {str(log): ['type=AVC msg=audit(1.2:3): apparmor="ALLOWED" operation="open" '
                                              'profile="p" name="/x"']}  # fmt: skip


def test_printk_rate_limit_is_lifted_and_restored(tmp_path: Path):
    knob = tmp_path / "printk_ratelimit"
    knob.write_text("5\n")
    with kernlog.unlimited_printk(knob) as kept:
        assert kept is None and knob.read_text() == "0\n"
    assert knob.read_text() == "5\n"
    with kernlog.unlimited_printk(tmp_path / "absent") as kept:
        assert kept and "absent" in kept


def test_cli_without_apparmor_stops_at_once_naming_the_feature(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(apparmor, "ENABLED", tmp_path / "sys/module/apparmor/parameters/enabled")
    monkeypatch.setattr("hardlab.learn.aa_run.connect", lambda: pytest.fail("no engine may be contacted"))
    code = cli.main(["--lsm", "apparmor", "--run", "true", "--out", str(tmp_path), "--name", "t"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "/sys/module/apparmor/parameters/enabled" in err and "hardlab vm exec" in err, err
    assert not list(tmp_path.glob("t.*")), "nothing is written"


def test_cli_refuses_seccomp_only_options_with_apparmor(capsys):
    assert cli.main(["--lsm", "apparmor", "--run", "true", "--minimise"]) == 2
    assert "--minimise: seccomp only" in capsys.readouterr().err
    assert cli.main(["--lsm", "apparmor", "--run", "true", "--name", "a b"]) == 2


@pytest.mark.skipif(apparmor.parser_missing_reason() is not None, reason="apparmor_parser is not installed")
def test_generated_profiles_compile(tmp_path: Path):
    """apparmor_parser compiles both profiles without a kernel (-Q -K -T): the syntax is the parser's."""
    rec = aa_log.parse(LINES, P)
    for name, text in (("enforce", aa_profile.generate("nmap", rec)), ("learning", aa_profile.learning_profile("n"))):
        path = tmp_path / name
        path.write_text(text)
        apparmor.run_compile(path)
