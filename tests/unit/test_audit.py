"""The audit's pure logic: verdicts under a host profile, exit codes, profile errors, config checks on
gathered facts, --host parsing, and the report outputs (no docker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hardlab.audit import checks as ac
from hardlab.audit import model as m
from hardlab.audit import report as audit_report
from hardlab.audit import targets as audit_targets
from hardlab.audit.profile import DEFAULT, HostProfile, ProfileError, parse

PROFILE = HostProfile(name="prod", require=frozenset({"userns-remap"}), waive={"2.15": "swarm nodes (OPS-12)"})


def verdict(outcome: m.Outcome, profile: HostProfile = DEFAULT, strict: bool = False, check: str = "c",
            cis: str = "2.9") -> m.Result:  # fmt: skip
    return m.judge("h", check, cis, "title", "config", "fix it", outcome, profile, strict)


# ---- verdicts and exit codes ------------------------------------------------------------------------


def test_pass_and_fail() -> None:
    assert (verdict(m.Outcome.ok("fine")).status, verdict(m.Outcome.ok("fine")).classification) == ("passed", "")
    r = verdict(m.Outcome.fail("icc=true"))
    assert (r.status, r.classification, r.evidence) == ("failed", "control-failed", ["icc=true"])


def test_missing_feature_is_a_reasoned_skip_where_not_required() -> None:
    r = verdict(m.Outcome.missing("apparmor", "no name=apparmor"), PROFILE)
    assert (r.status, r.classification) == ("skipped", "host-feature-missing")
    assert r.evidence[0] == "host lacks 'apparmor' and profile 'prod' does not require it"


def test_missing_feature_fails_where_the_profile_requires_it() -> None:
    r = verdict(m.Outcome.missing("userns-remap", "no name=userns"), PROFILE)
    assert (r.status, r.classification) == ("failed", "required-feature-missing")
    assert r.evidence[0].startswith("host profile 'prod' requires 'userns-remap'")
    assert r.evidence[1] == "no name=userns"


def test_strict_turns_every_skip_into_a_failure() -> None:
    r = verdict(m.Outcome.missing("apparmor", "none"), PROFILE, strict=True)
    assert (r.status, r.classification) == ("failed", "host-feature-missing")
    assert r.evidence[0].startswith("STRICT")
    w = verdict(m.Outcome.fail("LiveRestoreEnabled=false"), PROFILE, strict=True, cis="2.15")
    assert (w.status, w.classification) == ("failed", "waived")


def test_waiver_by_cis_id_skips_with_its_reason() -> None:
    r = verdict(m.Outcome.fail("LiveRestoreEnabled=false"), PROFILE, cis="2.15")
    assert (r.status, r.classification) == ("skipped", "waived")
    assert r.evidence == ["waived by host profile 'prod': swarm nodes (OPS-12)", "LiveRestoreEnabled=false"]


def test_errors_and_broken_controls_are_environment_not_findings() -> None:
    e = verdict(m.Outcome.error("ReadTimeout"))
    b = verdict(m.Outcome("broken-control", ("twin failed",)))
    assert (e.status, e.classification) == ("error", "environment")
    assert (b.status, b.classification) == ("error", "broken-control")
    assert not e.to_dict()["finding"] and not b.to_dict()["finding"]


def test_not_applicable_is_neither_pass_nor_skip() -> None:
    r = verdict(m.Outcome.na("no TLS files"), strict=True)
    assert (r.status, r.classification) == ("not-applicable", "not-applicable")


@pytest.mark.parametrize(
    ("statuses", "harness", "code"),
    [
        ([], [], 0),
        (["passed", "skipped", "not-applicable"], [], 0),
        (["passed", "failed"], [], 1),
        (["passed", "error"], [], 2),
        (["failed", "error"], [], 2),  # incomplete audit: 2, its findings are still reported
        (["passed"], ["engine down"], 2),
        (["failed"], ["engine down"], 2),
    ],
)
def test_exit_code_is_never_0_on_failure(statuses: list[str], harness: list[str], code: int) -> None:
    results = [m.Result("h", f"c{i}", "", "t", "config", s, "", ["e"], "") for i, s in enumerate(statuses)]
    assert m.exit_code(results, harness) == code


# ---- host profile ---------------------------------------------------------------------------------------


def test_profile_parses() -> None:
    text = (Path(__file__).resolve().parents[2] / "labs" / "audit" / "hardened.toml").read_text()
    p = parse(text, "hardened.toml")
    assert p.name == "hardened" and "userns-remap" in p.require and p.allow_insecure_registries == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('schema_version = 1\n[profile]\nrequire = ["userns-remapp"]\n',
         "p.toml:3: profile.require: unknown feature 'userns-remapp' (did you mean 'userns-remap'?)"),
        ('schema_version = 1\n[profile]\nname = "x"\nrequire = "apparmor"\n',
         "p.toml:4: profile.require: must be a list of strings, got 'apparmor'"),
        ('schema_version = 1\n[profile]\nname = "x"\nlog_driver = ["json-file"]\n',
         "p.toml:4: profile.log_driver: unknown key"),
        ('schema_version = 2\n[profile]\nname = "x"\n', "p.toml:1: schema_version: must be 1, got 2"),
        ('schema_version = 1\n[profile]\nname = "x"\n[waive]\n"2.2" = ""\n',
         "p.toml:5: waive.2.2: a waiver needs a non-empty reason string"),
        ('schema_version = 1\nname = "x"\n', "p.toml:2: name: unknown key"),
        ("schema_version = 1\n", "p.toml: profile: a [profile] table is required"),
        ('schema_version = 1\n[profile\n', "p.toml:2: not TOML"),
    ],
)  # fmt: skip
def test_profile_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse(text, "p.toml")
    assert any(str(p).startswith(expected) for p in err.value.problems), str(err.value)


def test_profile_reports_every_problem() -> None:
    with pytest.raises(ProfileError) as err:
        parse('schema_version = 1\n[profile]\nname = 3\nrequire = ["nope"]\nextra = 1\n', "p.toml")
    assert [p.line for p in err.value.problems] == [5, 3, 4]


# ---- config checks on gathered facts --------------------------------------------------------------------


def facts(**kw: Any) -> ac.EngineFacts:
    registry = {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {"docker.io": {"Secure": True}}}
    info = {"SecurityOptions": ["name=seccomp,profile=default"], "LoggingDriver": "json-file",
            "LiveRestoreEnabled": False, "RegistryConfig": registry}  # fmt: skip
    info.update(kw.pop("info", {}))
    base: dict[str, Any] = {"label": "h", "url": "unix:///var/run/docker.sock", "local": True, "info": info}
    base.update(kw)
    return ac.EngineFacts(**base)


def run(check_id: str, f: ac.EngineFacts, profile: HostProfile = DEFAULT) -> m.Outcome:
    check = next(c for c in ac.CHECKS if c.id == check_id)
    return check.run(f, profile)


def test_every_check_has_cis_id_title_and_remediation() -> None:
    ids = [c.id for c in ac.CHECKS]
    assert len(ids) == len(set(ids))
    for c in ac.CHECKS:
        assert c.cis and c.title and c.remediation, c.id


def test_icc_reads_the_default_bridge() -> None:
    on = run("daemon.icc", facts(bridge_options={"com.docker.network.bridge.enable_icc": "true"}))
    off = run("daemon.icc", facts(bridge_options={"com.docker.network.bridge.enable_icc": "false"}))
    assert on.state == "fail" and "enable_icc=true" in on.evidence[0]
    assert off.state == "pass"


def test_insecure_registries_ignore_the_builtin_loopback_but_not_others() -> None:
    assert run("daemon.insecure-registries", facts()).state == "pass"
    reg = {"RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"],
                              "IndexConfigs": {"reg.lan:5000": {"Secure": False}}}}  # fmt: skip
    out = run("daemon.insecure-registries", facts(info=reg))
    assert out.state == "fail" and "['10.0.0.0/8', 'reg.lan:5000']" in out.evidence[0]
    allowed = HostProfile(allow_insecure_registries=("10.0.0.0/8", "reg.lan:5000"))
    assert run("daemon.insecure-registries", facts(info=reg), allowed).state == "pass"


def test_allow_all_seccomp_profile_fails_and_default_passes() -> None:
    assert run("daemon.seccomp-profile", facts()).state == "pass"
    custom = facts(info={"SecurityOptions": ["name=seccomp,profile=/tmp/x.json"]},
                   seccomp_profile_text='{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}')  # fmt: skip
    out = run("daemon.seccomp-profile", custom)
    assert out.state == "fail" and "defaultAction SCMP_ACT_ALLOW" in out.evidence[0]
    strict = facts(info={"SecurityOptions": ["name=seccomp,profile=/tmp/x.json"]},
                   seccomp_profile_text='{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{}]}')  # fmt: skip
    assert run("daemon.seccomp-profile", strict).state == "pass"
    none = run("daemon.seccomp-profile", facts(info={"SecurityOptions": []}))
    assert (none.state, none.feature) == ("missing", "seccomp")


def test_userns_is_a_feature_the_profile_decides_on() -> None:
    out = run("daemon.userns-remap", facts())
    assert (out.state, out.feature) == ("missing", "userns-remap")
    assert run("daemon.userns-remap", facts(info={"SecurityOptions": ["name=userns"]})).state == "pass"


def test_plain_tcp_engine_fails_tls() -> None:
    out = run("daemon.tls", facts(url="tcp://127.0.0.1:2375", local=False))
    assert out.state == "fail" and "plain HTTP" in out.evidence[0]
    assert run("daemon.tls", facts(url="tcp://h:2376", local=False, client_tls=True)).state == "pass"
    listening = facts(flags={"hosts": ["tcp://0.0.0.0:2375"]}, cmdline="dockerd -H tcp://0.0.0.0:2375")
    out = run("daemon.tls", listening)
    assert out.state == "fail" and "without tlsverify, tlscert, tlskey, tlscacert" in out.evidence[0]


def test_socket_mode_is_judged_by_bits() -> None:
    sock = ac.FileFacts("/var/run/docker.sock", True, "root", "docker", 0o606, "socket")
    out = run("files.socket-mode", facts(files={"socket": sock}))
    assert out.state == "fail" and "grants other read, other write (0006)" in out.evidence[0]
    ok = ac.FileFacts("/var/run/docker.sock", True, "root", "docker", 0o660, "socket")
    assert run("files.socket-mode", facts(files={"socket": ok})).state == "pass"
    assert run("files.socket-mode", facts(local=False)).feature == "local-engine"


def test_auditd_rules() -> None:
    present = {"audit:/usr/bin/dockerd": ac.FileFacts("/usr/bin/dockerd", True)}
    rules = ["-w /usr/bin/dockerd -p rwxa -k docker"]
    assert run("auditd.usr-bin-dockerd", facts(files=present, audit_rules=rules, audit_source="x")).state == "pass"
    out = run("auditd.usr-bin-dockerd", facts(files=present, audit_rules=[], audit_source="auditctl -l"))
    assert out.state == "fail" and "no audit rule watches /usr/bin/dockerd" in out.evidence[0]
    assert run("auditd.usr-bin-dockerd", facts(files=present, audit_rules=None)).feature == "auditd"
    absent = {"audit:/usr/bin/dockerd": ac.FileFacts("/usr/bin/dockerd", False)}
    assert run("auditd.usr-bin-dockerd", facts(files=absent, audit_rules=[])).state == "n/a"


def container(name: str, **host: Any) -> dict[str, Any]:
    mounts = host.pop("mounts", [])
    return {"Name": "/" + name, "Id": "a" * 64, "Config": {"Image": "img"}, "HostConfig": host,
            "Mounts": [{"Type": "bind", "Source": s, "Destination": d, "RW": True} for s, d in mounts]}  # fmt: skip


def test_live_container_checks_name_the_offender() -> None:
    cs = [container("ok"), container("bad", Privileged=True, PidMode="host",
                                      mounts=[("/var/run/docker.sock", "/s"), ("/etc/ssl", "/x")])]  # fmt: skip
    f = facts(containers=cs)
    for check, needle in (("runtime.privileged", "Privileged=true"), ("runtime.host-pid", "PidMode=host"),
                          ("runtime.docker-socket", "/var/run/docker.sock -> /s"),
                          ("runtime.sensitive-mounts", "/etc/ssl -> /x (rw)")):  # fmt: skip
        out = run(check, f)
        assert out.state == "fail", check
        assert out.evidence[0] == f"1 of 2 running container(s) {out.evidence[0].split(') ', 1)[1]}"
        assert "bad (aaaaaaaaaaaa, image img)" in out.evidence[1] and needle in out.evidence[1], out
    assert run("runtime.host-network", f).state == "pass"


# ---- --host values --------------------------------------------------------------------------------------


def test_targets() -> None:
    t = audit_targets.parse("main=unix:///var/run/docker.sock", env={})
    assert (t.label, t.url, t.tls) == ("main", "unix:///var/run/docker.sock", False)
    t = audit_targets.parse("tcp://10.0.0.5:2376", env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/c"})
    assert (t.label, t.tls, t.cert_path) == ("tcp://10.0.0.5:2376", True, "/c")
    t = audit_targets.parse("ci", env={}, contexts=lambda name: {"url": "ssh://ops@ci", "tls": False})
    assert (t.label, t.url) == ("context:ci", "ssh://ops@ci")
    with pytest.raises(audit_targets.TargetError, match="unsupported scheme"):
        audit_targets.parse("http://x", env={})


def test_context_endpoint() -> None:
    data = [{"Endpoints": {"docker": {"Host": "tcp://h:2376", "SkipTLSVerify": False}},
             "TLSMaterial": {}, "Storage": {"TLSPath": "/nonexistent"}}]  # fmt: skip
    assert audit_targets.context_endpoint(data, "x")["url"] == "tcp://h:2376"
    with pytest.raises(audit_targets.TargetError, match="no docker endpoint"):
        audit_targets.context_endpoint([{"Endpoints": {}}], "x")


# ---- outputs ------------------------------------------------------------------------------------------


def results() -> list[m.Result]:
    return [
        verdict(m.Outcome.ok("fine"), check="a"),
        verdict(m.Outcome.fail("icc=true"), check="daemon.icc", cis="2.2"),
        verdict(m.Outcome.error("ReadTimeout"), check="b"),
        verdict(m.Outcome.missing("apparmor", "none"), check="c", cis="5.2"),
    ]


def test_outputs_separate_findings_from_environment(tmp_path: Path) -> None:
    meta = {"run_id": "r1", "time": "T", "started": 0, "profile": {"name": "default"}, "strict": False, "hosts": {}}
    audit_report.write_all(tmp_path, results(), meta, [])
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["totals"] == {"passed": 1, "failed": 1, "skipped": 1, "error": 1, "not-applicable": 0}
    assert data["classifications"] == {"control-failed": 1, "environment": 1, "host-feature-missing": 1}
    assert data["findings"] == 1
    junit = (tmp_path / "junit.xml").read_text()
    assert 'type="control-failed"' in junit and '<error message="[environment]' in junit
    summary = (tmp_path / "summary.txt").read_text().splitlines()
    assert summary[0].startswith("hardlab audit T: HARNESS PROBLEM")
    assert any(ln.startswith("findings (1):") for ln in summary)
    assert any(ln.startswith("environment, not findings (1):") for ln in summary)
    allure = [json.loads(p.read_text()) for p in (tmp_path / "allure-results").glob("*-result.json")]
    assert sorted(a["status"] for a in allure) == ["broken", "failed", "passed", "skipped"]


def test_history_trend_and_changes(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    first = [verdict(m.Outcome.ok("x"), check="daemon.icc")]
    second = [verdict(m.Outcome.fail("x"), check="daemon.icc")]
    audit_report.update_history(path, first, {"run_id": "1"})
    history = audit_report.update_history(path, second, {"run_id": "2"})
    entry = history["checks"]["h::daemon.icc"]
    assert audit_report.trend(entry) == "PF"
    assert audit_report.changes(history) == (["h::daemon.icc"], [])
    for i in range(3, 3 + audit_report.HISTORY_RUNS):
        history = audit_report.update_history(path, first, {"run_id": str(i)})
    assert len(history["runs"]) == audit_report.HISTORY_RUNS
    assert len(history["checks"]["h::daemon.icc"]["trend"]) == audit_report.HISTORY_RUNS


def test_allure_history_is_carried_over(tmp_path: Path) -> None:
    prev = tmp_path / "allure-report" / "history"
    prev.mkdir(parents=True)
    (prev / "history.json").write_text("{}")
    audit_report.write_allure(tmp_path / "allure-results", results(), {"started": 0}, prev)
    assert (tmp_path / "allure-results" / "history" / "history.json").read_text() == "{}"
    ids = {json.loads(p.read_text())["historyId"] for p in (tmp_path / "allure-results").glob("*-result.json")}
    assert audit_report.history_id(results()[1]) in ids  # stable per host and check, so allure links nights


# ---- content trust by behaviour (CIS 4.5) -----------------------------------------------------------------

SIGNED = "127.0.0.1:5000/hardlab/app:signed"
UNSIGNED = "127.0.0.1:5000/hardlab/app:unsigned"
UNSIGNED_DIGEST = "sha256:" + "ab" * 32
HARDENED = HostProfile(name="hardened", require=frozenset({"content-trust"}))


def pulled(ref: str, digest: str = "sha256:" + "cd" * 32) -> ac.CliRun:
    return ac.CliRun(("docker", "pull", ref), 0, f"x: Pulling from hardlab/app\nDigest: {digest}\nStatus: ok\n", "")


def refused(ref: str = UNSIGNED) -> ac.CliRun:
    return ac.CliRun(("docker", "pull", ref), 1, "", "No valid trust data for unsigned\n")


ON = ac.ClientTrust("1", "DOCKER_CONTENT_TRUST=1 in the audit's environment")
OFF = ac.ClientTrust(None, "neither the audit's environment nor /etc/environment sets it")


@pytest.mark.parametrize(
    ("env", "etc", "value", "where"),
    [
        ({"DOCKER_CONTENT_TRUST": "1"}, "DOCKER_CONTENT_TRUST=0\n", "1", "in the audit's environment"),
        ({"DOCKER_CONTENT_TRUST": ""}, 'PATH=/bin\nDOCKER_CONTENT_TRUST="1"\n', "1", "/etc/environment sets"),
        ({}, "DOCKER_CONTENT_TRUST=0\n", "0", "/etc/environment sets DOCKER_CONTENT_TRUST=0"),
        ({}, None, None, "neither"),
        ({}, "# DOCKER_CONTENT_TRUST=1\n", None, "neither"),
    ],
)
def test_client_trust_reads_environment_then_etc_environment(
    env: dict[str, str], etc: str | None, value: str | None, where: str
) -> None:
    got = ac.client_trust(env, etc)
    assert got.value == value and where in got.where
    assert got.configured == (value == "1")


@pytest.mark.parametrize("env", [{"DOCKER_CONTENT_TRUST": "1"}, {"DOCKER_CONTENT_TRUST": "true"}])
def test_client_trust_reads_exactly_as_the_config_check(env: dict[str, str]) -> None:
    from hardlab.audit.gather import content_trust

    got = ac.client_trust(env, None)
    assert (got.configured, got.where) == content_trust(env)


def test_trust_refusal_passes_quoting_the_cli() -> None:
    out = ac.trust_pull_verdict(ON, pulled(SIGNED), refused(), UNSIGNED_DIGEST)
    assert out.state == "pass"
    assert out.evidence[0] == (f"`docker pull {UNSIGNED}` with this host's client setting ({ON.where}) and a fresh "
                               'DOCKER_CONFIG was refused, exit 1: "No valid trust data for unsigned"')  # fmt: skip
    assert out.evidence[1].startswith(f'control: `docker pull {SIGNED}` (signed tag) pulled, exit 0: "Digest: ')


@pytest.mark.parametrize(("value", "on"), [("1", True), ("true", True), ("yes", True), ("0", False), ("false", False)])
def test_trust_setting_is_read_as_the_docker_cli_reads_it(value: str, on: bool) -> None:
    # The CLI turns content trust on for any non-empty value that is not a strconv.ParseBool false.
    assert ac.ClientTrust(value, "test").configured is on


def test_trust_refusal_with_true_passes() -> None:
    setting = ac.ClientTrust("true", "DOCKER_CONTENT_TRUST=true in the audit's environment")
    out = ac.trust_pull_verdict(setting, pulled(SIGNED), refused(), UNSIGNED_DIGEST)
    assert out.state == "pass"


def test_unsigned_pull_without_trust_is_missing_feature_required_by_the_profile() -> None:
    out = ac.trust_pull_verdict(OFF, pulled(SIGNED), pulled(UNSIGNED, UNSIGNED_DIGEST), UNSIGNED_DIGEST)
    assert (out.state, out.feature) == ("missing", "content-trust")
    assert f'pulled the unsigned image, exit 0: "Digest: {UNSIGNED_DIGEST}"' in out.evidence[0]
    informational = verdict(out, DEFAULT, cis="4.5")
    assert (informational.status, informational.classification) == ("skipped", "host-feature-missing")
    required = verdict(out, HARDENED, cis="4.5")
    assert (required.status, required.classification) == ("failed", "required-feature-missing")
    assert required.evidence[1] == out.evidence[0]


def test_unsigned_pull_despite_configured_trust_is_a_control_failure() -> None:
    out = ac.trust_pull_verdict(ON, pulled(SIGNED), pulled(UNSIGNED, UNSIGNED_DIGEST), UNSIGNED_DIGEST)
    assert out.state == "fail" and out.evidence[0].startswith("DOCKER_CONTENT_TRUST=1 is configured, yet")
    assert verdict(out, DEFAULT, cis="4.5").classification == "control-failed"


def test_signed_pull_failing_is_a_broken_control_not_a_pass() -> None:
    notary_down = ac.CliRun(("docker", "pull", SIGNED), 1, "", "error contacting notary server: refused\n")
    out = ac.trust_pull_verdict(ON, notary_down, refused(), UNSIGNED_DIGEST)
    assert out.state == "broken-control"
    assert '"error contacting notary server: refused"' in out.evidence[0]


def test_unsigned_pull_failing_for_another_reason_is_an_error() -> None:
    gone = ac.CliRun(("docker", "pull", UNSIGNED), 1, "", "Error response from daemon: connection refused\n")
    out = ac.trust_pull_verdict(ON, pulled(SIGNED), gone, UNSIGNED_DIGEST)
    assert out.state == "error" and '"Error response from daemon: connection refused"' in out.evidence[0]


def test_trust_behaviour_skips_with_the_lab_reason_before_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    from hardlab.audit import behave as audit_behave
    from hardlab.system import labtools
    from hardlab.trust import lab as trust

    def no_launch(*_: Any) -> None:
        raise AssertionError("the lab must not start")

    monkeypatch.setattr(trust, "launch", no_launch)
    local = audit_targets.Target("t", "unix:///")
    monkeypatch.setattr(labtools, "trust_lab_unavailable", lambda install=True: "needs Debian packages notary")
    out = audit_behave.content_trust_pull(local, {"DOCKER_CONTENT_TRUST": "1"})
    assert (out.state, out.feature) == ("missing", "trust-lab") and "needs Debian packages notary" in out.evidence[0]
    # never required by a profile: a reasoned skip even where content trust is required
    assert verdict(out, HARDENED, cis="4.5").status == "skipped"
    monkeypatch.setattr(labtools, "trust_lab_unavailable", lambda install=True: None)
    remote = audit_behave.content_trust_pull(audit_targets.Target("r", "tcp://10.0.0.5:2376"), {})
    assert (remote.state, remote.feature) == ("missing", "local-engine")
    assert audit_behave.TRUST_CHECK[:2] == ("behaviour.content-trust-pull", "4.5")
