"""The proof of a learned AppArmor profile, as a hardlab scenario, and the conftest that loads the profile
(pure: both are text).

- each workload exits as recorded under the learned profile, as the container's main process (with its own
  run options); control: the same workload under the engine's docker-default;
- writing a file under /etc, which the workload never did, is refused (sh: Permission denied); control:
  the same write succeeds under docker-default;
- running a program the workload never ran is refused (exit 126); control: it runs under docker-default.

The refusals run as root without the workload's own options, so only the profile differs from the control.
The conftest next to the scenario loads every `*.apparmor` file of its folder with `apparmor_parser -r -W`
where the kernel enforces AppArmor (as scenarios/apparmor/conftest.py loads the pack's profiles), so the
scenario runs again on its own: `hardlab run NAME.toml`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hardlab.learn.aa_profile import enforce_name
from hardlab.learn.proof import Workload, toml_list, toml_str, workload_cases

# Programs of every Debian image; the first the workload never ran is the "never ran" probe.
NEVER_RAN_CANDIDATES = ("/usr/bin/id", "/usr/bin/ls", "/usr/bin/touch", "/usr/bin/cat", "/usr/bin/nmap")
NEVER_WRITTEN = "/etc/hardlab-learned-never-written"
PROFILE_SUFFIX = ".apparmor"

CONFTEST = '''"""Written by `hardlab learn --lsm apparmor`: load the learned AppArmor profiles of this folder
(`apparmor_parser -r -W` of every *.apparmor file) before its scenarios run. Only where the kernel enforces
AppArmor; elsewhere the scenarios skip through `requires = ["apparmor"]`, naming the missing LSM."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardlab.system import apparmor


@pytest.fixture(scope="session", autouse=True)
def hardlab_learned_apparmor_profiles() -> dict[str, list[str]]:
    if apparmor.kernel_reason() or apparmor.parser_missing_reason():
        return {}
    try:
        return {p.name: apparmor.run_load(p) for p in sorted(Path(__file__).parent.glob("*.apparmor"))}
    except apparmor.ProfileError as exc:
        pytest.fail(f"harness error: {exc}", pytrace=False)
'''


def never_ran(execs: Iterable[str]) -> str | None:
    ran = set(execs)
    return next((p for p in NEVER_RAN_CANDIDATES if p not in ran), None)


def never_wrote(files: Mapping[str, Iterable[str]]) -> str | None:
    perms = set(files.get(NEVER_WRITTEN, ()))
    return None if perms & {"w", "a"} else NEVER_WRITTEN


def scenario(
    name: str,
    image: str,
    workloads: Sequence[Workload],
    execs: Iterable[str],
    files: Mapping[str, Iterable[str]],
    timeout: float = 60,
    container: Mapping[str, Any] = {},
) -> str:
    """The scenario TOML proving the profile hardlab-NAME (loaded by the conftest next to it)."""
    profile = enforce_name(name)
    confined = toml_list([f"apparmor={profile}"])
    out = [
        "# Written by `hardlab learn --lsm apparmor`: the proof of the learned AppArmor profile next to it",
        f"# ({name}{PROFILE_SUFFIX}, loaded by conftest.py). Run it again with",
        f"#   hardlab run {name}.toml   (or: python -m pytest {name}.toml)",
        "schema_version = 1",
        "",
        "[scenario]",
        f"id = {toml_str('learned-apparmor-' + name)}",
        f"title = {toml_str('The AppArmor profile learned for ' + name + ' runs the workload and refuses the rest')}",
        'description = """',
        f"The workload exits as recorded under {profile} (control: the same workload under docker-default).",
        "A write under /etc and a program the workload never ran are refused under it, and allowed under",
        "docker-default (the controls). The refusals run as root without the workload's own options.",
        '"""',
        'tags = ["apparmor", "learned"]',
        'requires = ["apparmor"]',
        'references = ["hardlab learn --lsm apparmor (issue 13)", "moby profiles/apparmor/template.go"]',
        'remediation = "Re-record the workload (hardlab learn --lsm apparmor) or add the refused access."',
        "",
        "[defaults]",
        f"image = {toml_str(image)}",
        f"timeout = {timeout:g}",
    ]
    out += workload_cases(workloads, container, confined, titled="the learned AppArmor profile", learned=profile,
                          default="docker-default", comment="the engine's docker-default")
    target = never_wrote(files)
    if target:
        write = toml_list(["/bin/sh", "-c", f"echo learned > {target} && echo wrote"])
        out += [
            "",
            "[[case]]",
            'id = "refuses-write-etc"',
            f"title = {toml_str('writing ' + target + ', which the workload never did, is refused')}",
            f'container = {{ command = {write}, security_opt = {confined}, user = "root" }}',
            "",
            "[[case.step]]",
            f"name = {toml_str('the write under ' + profile)}",
            "wait = true",
            "exit_code = 2",
            'stderr_contains = ["Permission denied"]',
            'stdout_not_contains = ["wrote"]',
            "",
            "[case.control]",
            f'container = {{ command = {write}, security_opt = [], user = "root" }}  # docker-default',
            "",
            "[[case.control.step]]",
            'name = "the same write under docker-default"',
            "wait = true",
            "exit_code = 0",
            'stdout_contains = ["wrote"]',
        ]
    program = never_ran(execs)
    if program:
        run = toml_list(["/bin/sh", "-c", f"{program} && echo ran"])  # no redirection: /dev/null may be refused
        out += [
            "",
            "[[case]]",
            f"id = {toml_str('refuses-exec-' + program.rsplit('/', 1)[-1])}",
            f"title = {toml_str('running ' + program + ', which the workload never ran, is refused')}",
            f'container = {{ command = {run}, security_opt = {confined}, user = "root" }}',
            "",
            "[[case.step]]",
            f"name = {toml_str(program + ' under ' + profile)}",
            "wait = true",
            "exit_code = 126",
            'stderr_contains = ["Permission denied"]',
            'stdout_not_contains = ["ran"]',
            "",
            "[case.control]",
            f'container = {{ command = {run}, security_opt = [], user = "root" }}  # docker-default',
            "",
            "[[case.control.step]]",
            f"name = {toml_str(program + ' under docker-default')}",
            "wait = true",
            "exit_code = 0",
            'stdout_contains = ["ran"]',
        ]
    return "\n".join(out) + "\n"
