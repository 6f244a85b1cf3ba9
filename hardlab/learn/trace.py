"""strace output -> the syscall names each ABI made (pure).

The recorder runs `strace -f --quiet=attach,exit -o FILE`: like `-qq`, but keeping strace's personality
messages, `[ Process PID=N runs in 32 bit mode. ]`, which `-q`/`-qq` suppress. They are the only sign
that a process switched to the i386 ABI (`int 0x80`), whose calls strace then names by the i386 table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ABIS = ("x86_64", "i386", "x32")
_MODES = {"64 bit": "x86_64", "32 bit": "i386", "x32": "x32"}
_PREFIX = r"^(?:\[pid\s+)?(?P<pid>\d+)?\]?\s*(?:\[\s*\d+\]\s*)?"
_PERSONALITY = re.compile(_PREFIX + r"\[ Process PID=(?P<who>\d+) runs in (?P<mode>64 bit|32 bit|x32) mode\. \]")
_CALL = re.compile(_PREFIX + r"(?P<name>[a-z_][a-z0-9_]*)\(")
_UNKNOWN = re.compile(r"^syscall_(0x[0-9a-f]+|\d+)$")


@dataclass
class Recorded:
    """The syscall names seen per ABI, and names strace could not resolve (`syscall_0x1b3`)."""

    calls: dict[str, set[str]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)

    def all(self) -> set[str]:
        return set().union(*self.calls.values()) if self.calls else set()

    def add(self, abi: str, name: str) -> None:
        self.calls.setdefault(abi, set()).add(name)


def parse(text: str) -> Recorded:
    """Every syscall entry line (`PID name(...`) counts once per ABI; `<... name resumed>`, signal
    (`---`) and exit (`+++`) lines are not calls. A personality message switches that PID's ABI."""
    out = Recorded()
    mode: dict[str, str] = {}
    for line in text.splitlines():
        switch = _PERSONALITY.search(line)
        if switch:
            mode[switch["who"]] = _MODES[switch["mode"]]
            continue
        call = _CALL.match(line)
        if not call:
            continue
        name = call["name"]
        if _UNKNOWN.match(name):
            out.unknown.add(name)
            continue
        out.add(mode.get(call["pid"] or "", "x86_64"), name)
    return out
