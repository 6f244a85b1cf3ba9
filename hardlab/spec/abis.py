"""Syscall ABIs: the ABIs a case's `syscall` steps are made through (`abis = [...]`), the case variant per
ABI, and the check that every probe step names a probe hardlab-probe knows on each of them."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from hardlab.spec.checker import Checker
from hardlab.spec.model import Case, Step
from hardlab.spec.placeholders import placeholders
from hardlab.spec.prober import known_syscalls
from hardlab.spec.steps import PROBE
from hardlab.spec.tomlpos import KeyPath

# Syscall ABIs a case's `syscall` steps can be made through (hardlab-probe --abi); x86_64 is the native one.
ABIS = {"x86_64": None, "i386": "i386-abi", "x32": "x32-abi"}  # abi -> the host feature it needs


def check_probes(check: Checker, case: Case, path: KeyPath, abis: tuple[str, ...]) -> None:
    """Every `syscall = "NAME"` step names a probe hardlab-probe knows on each ABI the case runs it through;
    otherwise the prober exits 2 ("unknown syscall") and the case would fail as if the engine had."""
    groups = [(("step",), case.steps), (("control", "step"), case.control.steps if case.control else ())]
    for where, steps in groups:
        for n, step in enumerate(steps):
            if step.argv[:1] != (PROBE,) or placeholders(list(step.argv)):
                continue
            key: KeyPath = (*path, *where, n, "syscall")
            words = list(step.argv[1:])
            on = abis
            if "--abi" in words:
                at = words.index("--abi")
                on = tuple(words[at + 1 : at + 2])
                del words[at : at + 2]
                if not on or on[0] not in ABIS:
                    check.error(key, f"--abi needs one of {', '.join(ABIS)}; or set abis = [...] on the case")
                    continue
            if len(words) != 1:
                check.error(key, f"expected one probe name (e.g. 'mount'), got {' '.join(step.argv[1:])!r}")
                continue
            for abi in on:
                known = known_syscalls(abi)
                if known is not None and words[0] not in known:
                    near = difflib.get_close_matches(words[0], sorted(known), n=1)
                    hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(known))}"
                    check.error(key, f"hardlab-probe has no probe {words[0]!r} on {abi} ({hint}); "
                                     "a `shell` step can make any other call")  # fmt: skip
                    break


def parse_abis(check: Checker, raw: Mapping[str, Any], path: KeyPath) -> tuple[str, ...]:
    """`abis = ["x86_64", "i386"]`: the ABIs every `syscall` step of the case is made through."""
    if "abis" not in raw:
        return ("x86_64",)
    names = check.strings(raw, "abis", path, allow_single=False)
    for name in names:
        if name not in ABIS:
            check.error((*path, "abis"), f"unknown ABI {name!r}; known: {', '.join(ABIS)}")
    if len(set(names)) != len(names):
        check.error((*path, "abis"), "names an ABI twice")
    return names or ("x86_64",)


def on_abis(case: Case, abis: tuple[str, ...]) -> list[Case]:
    """One case per ABI: the x86_64 one keeps its id; another ABI's is `ID-ABI`, its syscall steps go through
    that ABI (`hardlab-probe --abi ABI`) and it needs the host feature saying the kernel accepts it."""
    out = []
    for abi in abis:
        if abi == "x86_64":
            out.append(case)
            continue

        def through(steps: tuple[Step, ...], abi: str = abi) -> tuple[Step, ...]:
            return tuple(
                dataclasses.replace(s, argv=(PROBE, "--abi", abi, *s.argv[1:]), name=f"{s.name} [{abi}]")
                if s.argv[:1] == (PROBE,) and "--abi" not in s.argv else s
                for s in steps
            )  # fmt: skip

        control = case.control and dataclasses.replace(case.control, steps=through(case.control.steps))
        feature = ABIS[abi] or ""
        out.append(dataclasses.replace(
            case, id=f"{case.id}-{abi}", title=f"{case.title} [{abi} ABI]", steps=through(case.steps),
            control=control, requires=tuple(dict.fromkeys((*case.requires, feature))),
        ))  # fmt: skip
    return out
