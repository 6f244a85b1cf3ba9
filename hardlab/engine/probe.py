"""What the host can enforce: one probe for `hardlab doctor` and for every scenario's `requires`.

Each feature is decided by evidence (docker info, kernel files, a real container start), and every
"no" carries a reason that names the feature and why, which becomes the skip reason of a scenario.
`HostFacts.facts` holds the engine facts expectations depend on (`hardlab.core.facts.EngineFacts`:
versions, runtime, the default profile's generation, ABIs, what --privileged grants), measured by
`hardlab.engine.behaviour` when `behaviour=True`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gzip
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hardlab.core import facts as corefacts
from hardlab.engine import behaviour as behaviour_probe
from hardlab.spec import FEATURES
from hardlab.system.labtools import trust_lab_unavailable


@dataclass
class Feature:
    ok: bool
    evidence: str


@dataclass
class HostFacts:
    engine: dict[str, Any] = field(default_factory=dict)
    kernel: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Feature] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # EngineFacts.to_dict()

    @property
    def engine_facts(self) -> corefacts.EngineFacts:
        return corefacts.EngineFacts.from_dict(self.facts)

    def missing(self, required: tuple[str, ...] | list[str]) -> list[str]:
        """Skip reasons for every required feature this host lacks, each naming the feature."""
        out = []
        for name in required:
            feature = self.features.get(name)
            if feature is None:
                out.append(f"host feature '{name}' was not probed")
            elif not feature.ok:
                out.append(f"host lacks '{name}' ({FEATURES.get(name, name)}): {feature.evidence}")
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HostFacts:
        data = json.loads(text)
        features = {k: Feature(**v) for k, v in data["features"].items()}
        return cls(data["engine"], data["kernel"], features, data.get("facts") or {})


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def kernel_config() -> tuple[dict[str, str] | None, str]:
    """The running kernel's build config, from /boot or /proc/config.gz."""
    release = platform.release()
    for candidate in (f"/boot/config-{release}", "/proc/config.gz"):
        try:
            if candidate.endswith(".gz"):
                with gzip.open(candidate, "rt") as handle:
                    raw = handle.read()
            else:
                raw = Path(candidate).read_text()
        except OSError:
            continue
        conf = {}
        for line in raw.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("CONFIG_"):
                conf[key] = value
        return conf, candidate
    return None, f"neither /boot/config-{release} nor /proc/config.gz is readable"


def local_lsms() -> tuple[list[str] | None, str]:
    lsm = _read("/sys/kernel/security/lsm")
    if lsm:
        return lsm.split(","), "/sys/kernel/security/lsm"
    return None, "/sys/kernel/security/lsm is not readable (securityfs not mounted)"


def engine_is_local() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    return host == "" or host.startswith("unix://")


def host_cgroup_layout() -> corefacts.CgroupLayout:
    """This machine's cgroup layout (unified, hybrid with the controllers cgroup2 holds, legacy)."""
    controllers = _read("/sys/fs/cgroup/unified/cgroup.controllers")
    return corefacts.cgroup_layout(_read("/proc/mounts") or "", controllers)


def probe(client: Any, privileged_probe: bool = True, local: bool | None = None, behaviour: bool = True) -> HostFacts:
    """Probe the engine `client` talks to (and this machine's kernel when the engine is local).

    `local` says whether that engine runs on this machine; by default DOCKER_HOST decides, which is
    wrong when one process audits several engines. `behaviour` runs the probe containers of
    `hardlab.engine.behaviour` (seconds; they need the lab images already on the engine)."""
    info = client.info()
    version = client.version()
    sec = info.get("SecurityOptions") or []
    names = {dict(kv.split("=", 1) for kv in opt.split(",") if "=" in kv).get("name", opt) for opt in sec}
    facts = HostFacts()
    facts.engine = {
        "server_version": info.get("ServerVersion"),
        "api_version": version.get("ApiVersion"),
        "operating_system": info.get("OperatingSystem"),
        "kernel_version": info.get("KernelVersion"),
        "architecture": info.get("Architecture"),
        "cgroup_version": info.get("CgroupVersion"),
        "cgroup_driver": info.get("CgroupDriver"),
        "security_options": sec,
        "rootless": "rootless" in names,
        "docker_host": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
        "name": info.get("Name"),
    }
    f = facts.features
    f["seccomp"] = Feature("seccomp" in names, f"docker info SecurityOptions: {sec or 'none'}")
    f["selinux"] = Feature("selinux" in names, f"docker info SecurityOptions: {sec or 'none'}")
    f["userns-remap"] = Feature("userns" in names, f"docker info SecurityOptions: {sec or 'none'}")
    f["rootful"] = Feature("rootless" not in names, "rootless" if "rootless" in names else "engine runs as root")
    f["cgroup-pids"] = Feature(bool(info.get("PidsLimit")), f"docker info PidsLimit={info.get('PidsLimit')}")
    f["cgroup-memory"] = Feature(bool(info.get("MemoryLimit")), f"docker info MemoryLimit={info.get('MemoryLimit')}")
    arch = info.get("Architecture")
    f["x86_64"] = Feature(arch == "x86_64", f"engine architecture {arch}")
    local = engine_is_local() if local is None else local
    where = os.environ.get("DOCKER_HOST", "the local socket")
    f["local-engine"] = Feature(local, "the engine is on this machine" if local else f"the engine is remote ({where})")

    apparmor_module = _read("/sys/module/apparmor/parameters/enabled") if local else None
    if "apparmor" in names:
        f["apparmor"] = Feature(True, "docker info lists apparmor; kernel module enabled=" + str(apparmor_module))
    else:
        why = "the engine does not list apparmor in SecurityOptions"
        if local:
            why += (
                f"; /sys/module/apparmor/parameters/enabled: {apparmor_module or 'absent (no AppArmor in this kernel)'}"
            )
        f["apparmor"] = Feature(False, why + " (run the AppArmor pack in the lab VM: hardlab vm run -m apparmor)")

    if local:
        conf, where = kernel_config()
        lsms, lsm_where = local_lsms()
        facts.kernel = {
            "release": platform.release(),
            "config": where,
            "CONFIG_SECCOMP": (conf or {}).get("CONFIG_SECCOMP", "unknown") if conf else "unknown",
            "lsm": lsms if lsms is not None else f"unknown ({lsm_where})",
            "cap_last_cap": _read("/proc/sys/kernel/cap_last_cap"),
            "max_user_namespaces": _read("/proc/sys/user/max_user_namespaces"),
        }
        f["kernel-config"] = Feature(conf is not None, where)
        userns = _read("/proc/sys/user/max_user_namespaces")
        f["user-namespaces"] = Feature(bool(userns and userns != "0"), f"/proc/sys/user/max_user_namespaces={userns}")
    else:
        f["kernel-config"] = Feature(False, "the engine is remote; its kernel config cannot be read from here")
        f["user-namespaces"] = Feature(True, "assumed on a remote engine (checked by the scenario's control)")
    why_not = trust_lab_unavailable()
    f["trust-lab"] = Feature(why_not is None, why_not or "docker CLI present; registry and notary can run on loopback")
    measured = _engine_facts(info, version, facts, local)
    # The rules (hardlab.core.rules.rule_facts) read the runtime from the engine record.
    facts.engine["runtime"], facts.engine["runtime_version"] = measured.runtime, measured.runtime_version
    # The probe containers are independent: started together, they cost one container's time, not three.
    with concurrent.futures.ThreadPoolExecutor(max_workers=3, thread_name_prefix="hardlab-facts") as pool:
        if privileged_probe:
            from hardlab.engine import images

            def privileged() -> tuple[bool, str, corefacts.Privileged]:
                with contextlib.suppress(images.ImageError):
                    images.ensure(client, "lab:busybox")  # a few seconds, once: the only honest privileged answer
                return behaviour_probe.privileged(client)

            privileged_answer = pool.submit(privileged)
        if behaviour:
            profile_answer = pool.submit(behaviour_probe.profile_and_caps, client)
            abis_answer = pool.submit(behaviour_probe.abis, client)
        if privileged_probe:
            ok, evidence, measured.privileged = privileged_answer.result()
            f["privileged"] = Feature(ok, evidence)
        if behaviour:
            measured.profile, last_cap = profile_answer.result()
            measured.cap_last_cap = last_cap if last_cap is not None else measured.cap_last_cap
            measured.abis = abis_answer.result()
    for abi in ("i386", "x32"):
        answer = measured.abis.get(abi) if behaviour else None
        seen = {True: "answers", False: "refuses (ENOSYS)", None: "was not probed for"}[answer]
        f[f"{abi}-abi"] = Feature(answer is True, f"the kernel {seen} a getpid made through the {abi} ABI from an "
                                                  "unconfined container")  # fmt: skip
    facts.facts = measured.to_dict()
    own = _dockerd_capbnd(facts.engine["docker_host"]) if local else None
    if own:
        facts.engine["engine_caps"], facts.engine["engine_caps_source"] = own
    elif measured.privileged and measured.privileged.capbnd:
        facts.engine["engine_caps"] = measured.privileged.capbnd
        facts.engine["engine_caps_source"] = "the CapBnd of a --privileged container (the engine's process is not here)"
    return facts


def _dockerd_capbnd(url: str) -> tuple[str, str] | None:
    """(CapBnd, where it was read) of the dockerd process serving the local socket `url`: the capabilities
    the engine itself holds, which is what moby >= 23.0 hands a --privileged container (moby#42933)."""
    if not url.startswith("unix://"):
        return None
    socket = url[len("unix://") :]
    default = os.path.realpath(socket) in {os.path.realpath(p) for p in ("/var/run/docker.sock", "/run/docker.sock")}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or _read(str(proc / "comm")) != "dockerd":
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        names_socket = any(socket in arg for arg in argv)
        no_hosts = not any(a in {"-H", "--host"} or a.startswith(("-H=", "--host=", "-Hunix")) for a in argv)
        if names_socket or (default and no_hosts):
            mask = corefacts.capbnd_from_status(_read(str(proc / "status")) or "")
            if mask:
                return mask, f"/proc/{proc.name}/status of the dockerd serving {url}"
    return None


def _engine_facts(info: dict[str, Any], version: dict[str, Any], host: HostFacts, local: bool) -> corefacts.EngineFacts:
    """The facts docker info/version and this machine's files tell (the containers add the rest)."""
    runtime, runtime_version = corefacts.runtime_from_engine(info, version)
    if runtime_version is None and local:
        path = ((info.get("Runtimes") or {}).get(runtime or "") or {}).get("path")
        runtime_version = _local_runtime_version(path) if path else None
    last = host.kernel.get("cap_last_cap")
    return corefacts.EngineFacts(
        engine_version=info.get("ServerVersion"),
        runtime=runtime,
        runtime_version=runtime_version,
        kernel=info.get("KernelVersion"),
        cgroup_version=info.get("CgroupVersion"),
        cgroup_layout=host_cgroup_layout().describe if local else None,
        rootless=host.engine.get("rootless"),
        cap_last_cap=int(last) if isinstance(last, str) and last.isdigit() else None,
    )


def _local_runtime_version(path: str) -> str | None:
    """`<runtime> --version` of a runtime on this machine (runc, crun: 'crun version 1.8.1')."""
    import shutil
    import subprocess

    binary = path if os.path.isabs(path) else shutil.which(path)
    if not binary:
        return None
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return corefacts.runtime_version(done.stdout)


def environment_properties(facts: HostFacts) -> str:
    """allure's environment.properties: the engine facts every report should carry."""
    rows = {
        "engine.version": facts.engine.get("server_version"),
        "engine.api": facts.engine.get("api_version"),
        "engine.host": facts.engine.get("docker_host"),
        "engine.os": facts.engine.get("operating_system"),
        "engine.rootless": facts.engine.get("rootless"),
        "engine.cgroup": f"v{facts.engine.get('cgroup_version')} ({facts.engine.get('cgroup_driver')})",
        "engine.security_options": " ".join(facts.engine.get("security_options", [])),
        "kernel.release": facts.engine.get("kernel_version"),
        **_fact_properties(facts.engine_facts),
        **{f"feature.{k}": ("yes" if v.ok else "no") for k, v in sorted(facts.features.items())},
    }
    return "".join(f"{k}={v}\n" for k, v in rows.items())


def _fact_properties(measured: corefacts.EngineFacts) -> dict[str, Any]:
    p = measured.profile
    return {
        "engine.runtime": f"{measured.runtime} {measured.runtime_version or ''}".strip(),
        "engine.seccomp_profile": p.label,
        "engine.abis": " ".join(abi for abi, ok in measured.abis.items() if ok) or "unknown",
        "engine.privileged_capbnd": measured.privileged.capbnd or "none",
    }


def render(facts: HostFacts, scenario_requirements: dict[str, dict[str, set[str]]] | None = None) -> str:
    """The doctor's table."""
    e, k = facts.engine, facts.kernel
    lines = [
        "hardlab doctor: what this host can enforce",
        "",
        f"  engine           Docker {e.get('server_version')} (API {e.get('api_version')}) at {e.get('docker_host')}",
        f"  host             {e.get('operating_system')}, kernel {e.get('kernel_version')}, {e.get('architecture')}",
        f"  rootless         {'yes' if e.get('rootless') else 'no'}",
        f"  cgroups          v{e.get('cgroup_version')} ({e.get('cgroup_driver')} driver)",
        f"  security options {', '.join(e.get('security_options') or []) or 'none'}",
    ]
    if k:
        lines += [
            f"  kernel LSMs      {', '.join(k['lsm']) if isinstance(k.get('lsm'), list) else k.get('lsm')}",
            f"  CONFIG_SECCOMP   {k.get('CONFIG_SECCOMP')} (from {k.get('config')})",
            f"  cap_last_cap     {k.get('cap_last_cap')}",
        ]
    if facts.facts:
        lines += ["", "  facts expectations depend on:", *facts.engine_facts.lines()]
    lines += ["", f"  {'feature':<16} {'ok':<4} evidence"]
    for name, feat in sorted(facts.features.items()):
        lines.append(f"  {name:<16} {'yes' if feat.ok else 'NO':<4} {feat.evidence}")
    if scenario_requirements:
        lines += ["", "  scenario file and its cases on this host:"]
        for scenario, per_case in sorted(scenario_requirements.items()):
            skips: dict[str, int] = {}
            for reqs in per_case.values():
                missing = sorted(r for r in reqs if r in facts.features and not facts.features[r].ok)
                if missing:
                    key = ", ".join(missing)
                    skips[key] = skips.get(key, 0) + 1
            runs = len(per_case) - sum(skips.values())
            detail = "; ".join(f"{n} skip (needs {k})" for k, n in sorted(skips.items()))
            lines.append(f"  {scenario:<46} {runs} run" + (f", {detail}" if detail else ""))
    return "\n".join(lines)
