"""A step's output, bounded: each stream read as it comes and kept up to OUTPUT_CAP bytes, with a note of
what was cut kept apart from the output."""

from __future__ import annotations

from typing import Any

OUTPUT_CAP = 1 << 20  # bytes kept of each output stream of a step


class Capped:
    """One output stream, read as it comes, keeping at most OUTPUT_CAP bytes (a step that floods its
    output costs the grader nothing); what was cut is said at the end of what is kept."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = OUTPUT_CAP if cap is None else cap
        self.kept = bytearray()
        self.seen = 0

    def add(self, chunk: bytes | None) -> None:
        if not chunk:
            return
        self.seen += len(chunk)
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")

    def note(self, name: str) -> str:
        return f"{name}: kept the first {len(self.kept)} of {self.seen} bytes" if self.seen > len(self.kept) else ""


def cut_note(out: Capped, err: Capped) -> str:
    """What was cut of a step's output ("" when nothing was), kept apart from the output so that no
    check matches hardlab's own words."""
    return "; ".join(n for n in (out.note("stdout"), err.note("stderr")) if n)


def read_logs(container: Any) -> tuple[Capped, Capped]:
    """A finished container's stdout and stderr, each read as a stream and capped."""
    out, err = Capped(), Capped()
    for kept, which in ((out, {"stdout": True, "stderr": False}), (err, {"stdout": False, "stderr": True})):
        for chunk in container.logs(stream=True, follow=False, **which):
            kept.add(chunk)
    return out, err
