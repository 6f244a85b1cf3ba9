"""Text that came from outside (an engine's answers, a program's output) made safe to print. Pure."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls but newline and tab, DEL, and the bidirectional overrides (a terminal or a viewer
# would act on them: clear the screen, retitle the window, reorder what a reader sees).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character shown as an escape (\\x1b), never acted on."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       text)  # fmt: skip


def printable_data(value: Any) -> Any:
    """printable() applied to every string inside lists, tuples and dicts (keys too)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_data(k): printable_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(printable_data(v) for v in value)
    return value
