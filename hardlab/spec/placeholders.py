"""`${name}` placeholders: find them, substitute them, and the names the trust lab fills."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Filled at run time from the trust lab (hardlab.trust.lab.TrustRepos.placeholders), so no [inputs] entry is needed.
TRUST_PLACEHOLDERS = {"registry", "notary", "notary_url", "run_id"} | {
    f"{name}_{part}" for name in ("signed", "unsigned", "no_trust") for part in ("ref", "repo", "digest")
}


def substitute(value: Any, mapping: Mapping[str, Any], keep_unknown: bool = False) -> Any:
    """Replace ${name} in every string of `value`. A string that is exactly "${name}" takes the
    mapped value as it is (so a list parameter fills a list option)."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in mapping:
            return copy.deepcopy(mapping[whole.group(1)])

        def repl(m: re.Match[str]) -> str:
            if m.group(1) in mapping:
                return str(mapping[m.group(1)])
            if keep_unknown:
                return m.group(0)
            raise KeyError(m.group(1))

        return _PLACEHOLDER.sub(repl, value)
    if isinstance(value, list):
        return [substitute(v, mapping, keep_unknown) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, mapping, keep_unknown) for k, v in value.items()}
    return value


def placeholders(value: Any) -> set[str]:
    """Every ${name} used anywhere in `value`."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    return set()
