"""`${name}` placeholders in trust-lab steps, filled from the values a lab provides (`TrustRepos.placeholders`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with every `${name}` replaced; KeyError naming the known names for an unknown one."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"unknown placeholder ${{{m.group(1)}}}; known: {', '.join(sorted(values))}")
        return values[m.group(1)]

    return PLACEHOLDER.sub(one, text)
