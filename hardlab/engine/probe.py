"""What the host can enforce: one probe for `hardlab doctor` and for every scenario's `requires`.

Each feature is decided by evidence (docker info, kernel files, a real container start), and every
"no" carries a reason that names the feature and why, which becomes the skip reason of a scenario.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
        return cls(data["engine"], data["kernel"], {k: Feature(**v) for k, v in data["features"].items()})


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


def probe(client: Any, privileged_probe: bool = True, local: bool | None = None) -> HostFacts:
    """Probe the engine `client` talks to (and this machine's kernel when the engine is local).

    `local` says whether that engine runs on this machine; by default DOCKER_HOST decides, which is
    wrong when one process audits several engines."""
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
    if privileged_probe:
        f["privileged"] = _privileged(client)
    return facts


def _privileged(client: Any) -> Feature:
    """Start a real --privileged container: the only honest answer to 'can this host run one'."""
    import docker.errors

    from hardlab.engine import images, labels
    try:
        image = images.ensure(client, "lab:busybox")
        container = client.containers.create(
            image, ["true"], privileged=True, labels=labels.for_run("probe", labels.owner(), "privileged probe")
        )
    except (docker.errors.APIError, images.ImageError) as exc:
        return Feature(False, f"could not prepare the probe container: {exc}")
    try:
        container.start()
        code = container.wait(timeout=30).get("StatusCode")
        return Feature(code == 0, f"a --privileged container started and exited {code}")
    except docker.errors.APIError as exc:
        msg = str(getattr(exc, "explanation", exc))
        hint = ""
        if "unable to apply caps" in msg:
            hint = (
                " — this host's root lacks capabilities the engine must grant (e.g. CAP_SYS_RESOURCE in a "
                "nested VM/container); run privileged cases in the lab VM: hardlab vm run -m privileged"
            )
        return Feature(False, f"the engine cannot start --privileged containers: {_short(msg)}{hint}")
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def _short(msg: str) -> str:
    for marker in ("unable to apply caps", "operation not permitted"):
        if marker in msg:
            return msg[msg.index(marker) :].split("\n")[0][:160]
    return msg[:200]


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
        **{f"feature.{k}": ("yes" if v.ok else "no") for k, v in sorted(facts.features.items())},
    }
    return "".join(f"{k}={v}\n" for k, v in rows.items())


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
