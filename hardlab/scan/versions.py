"""Package version ordering for the scan matcher: dpkg (python-debian) and apk (Alpine's own rules).

Both `compare` functions return <0, 0 or >0 and raise ValueError naming the bad version string.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from debian.debian_support import Version as DebVersion
from debian.debian_support import version_compare as _deb_compare

# ----------------------------------------------------------------------------------------------- dpkg


def dpkg_valid(version: str) -> bool:
    try:
        DebVersion(version)
    except ValueError:
        return False
    # python-debian accepts some strings dpkg refuses; these are the rules dpkg itself enforces.
    epoch, _, rest = version.partition(":") if ":" in version else ("", "", version)
    if ":" in version and not epoch.isdigit():
        return False
    return bool(rest) and rest[0].isdigit()


def dpkg_compare(a: str, b: str) -> int:
    """dpkg ordering: epoch first, then upstream and revision with `~` sorting before everything."""
    for v in (a, b):
        if not dpkg_valid(v):
            raise ValueError(f"invalid dpkg version {v!r}")
    return _deb_compare(a, b)


# ----------------------------------------------------------------------------------------------- apk
# Alpine's grammar: digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}. The rules below follow apk-tools'
# behaviour: token kinds in this order; a component with a leading zero compares as a string; when one
# version runs out first it is older, unless the other continues with a pre-release suffix.

_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END = range(8)
_PRE = ("alpha", "beta", "pre", "rc")
_POST = ("cvs", "svn", "git", "hg", "p")
_SUFFIX_RANK = {s: i for i, s in enumerate((*_PRE, "", *_POST))}  # "" = the release itself
_RELEASE_RANK = _SUFFIX_RANK[""]
_TOKEN = re.compile(r"\.?(\d+)|([a-z])|_([a-z]+)|~([0-9a-f]+)|-r(\d+)")


def _apk_tokens(version: str) -> list[tuple[int, str]]:
    m = re.match(r"\d+", version)
    if not m:
        raise ValueError(f"invalid apk version {version!r}: must start with a digit")
    tokens: list[tuple[int, str]] = [(_INITIAL, m.group())]
    pos = m.end()
    while pos < len(version):
        m = _TOKEN.match(version, pos)
        if not m:
            raise ValueError(f"invalid apk version {version!r} at {version[pos:]!r}")
        last = tokens[-1][0]
        if m.group(1) is not None:
            dotted = m.group().startswith(".")
            if dotted and last in (_INITIAL, _DIGIT):
                kind = _DIGIT  # .N continues the numeric part
            elif not dotted and last == _SUFFIX:
                kind = _SUFFIX_NO  # _rc1: the number belongs to the suffix
            else:
                raise ValueError(f"invalid apk version {version!r}: unexpected number at {version[pos:]!r}")
            tokens.append((kind, m.group(1)))
        elif m.group(2) is not None:
            if last > _DIGIT:
                raise ValueError(f"invalid apk version {version!r}: letter after {version[:pos]!r}")
            tokens.append((_LETTER, m.group(2)))
        elif m.group(3) is not None:
            if last > _SUFFIX_NO or m.group(3) not in _SUFFIX_RANK or not m.group(3):
                raise ValueError(f"invalid apk version {version!r}: bad suffix _{m.group(3)}")
            tokens.append((_SUFFIX, m.group(3)))
        elif m.group(4) is not None:
            if last >= _HASH:
                raise ValueError(f"invalid apk version {version!r}: misplaced ~hash")
            tokens.append((_HASH, m.group(4)))
        else:
            if last >= _REVISION:
                raise ValueError(f"invalid apk version {version!r}: second -r")
            tokens.append((_REVISION, m.group(5)))
        pos = m.end()
    return tokens


def apk_valid(version: str) -> bool:
    try:
        _apk_tokens(version)
    except ValueError:
        return False
    return True


def _cmp(a: object, b: object) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


def _apk_token_cmp(kind: int, a: str, b: str) -> int:
    if kind == _DIGIT and (a.startswith("0") or b.startswith("0")):
        return _cmp(a, b)  # leading zero: compared as text (1.01 < 1.1)
    if kind in (_INITIAL, _DIGIT, _SUFFIX_NO, _REVISION):
        return _cmp(int(a), int(b))
    if kind == _SUFFIX:
        return _cmp(_SUFFIX_RANK[a], _SUFFIX_RANK[b])
    return _cmp(a, b)


def apk_compare(a: str, b: str) -> int:
    ta, tb = [*_apk_tokens(a), (_END, "")], [*_apk_tokens(b), (_END, "")]
    i = 0
    while ta[i][0] == tb[i][0] and ta[i][0] != _END:
        r = _apk_token_cmp(ta[i][0], ta[i][1], tb[i][1])
        if r:
            return r
        i += 1
    (ka, va), (kb, vb) = ta[i], tb[i]
    if ka == kb:
        return 0
    if ka == _SUFFIX and _SUFFIX_RANK[va] < _RELEASE_RANK:
        return -1
    if kb == _SUFFIX and _SUFFIX_RANK[vb] < _RELEASE_RANK:
        return 1
    # The version that goes on with an earlier kind of token (more digits, a letter, ...) is newer.
    return -1 if ka > kb else 1


# ----------------------------------------------------------------------------------------------- dispatch

COMPARATORS: dict[str, Callable[[str, str], int]] = {"dpkg": dpkg_compare, "apk": apk_compare}
VALIDATORS: dict[str, Callable[[str], bool]] = {"dpkg": dpkg_valid, "apk": apk_valid}


def compare(kind: str, a: str, b: str) -> int:
    """Compare two versions of a package database kind ("dpkg" or "apk")."""
    return COMPARATORS[kind](a, b)
