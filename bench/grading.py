"""Benchmark `hardlab grade`: a generated class of 30 students x 6 assignments (the sample course's reference
and wrong solutions, mixed), graded on the real engine. Prints seconds per submission; the target is the whole
class in under 5 minutes on a 2-core machine.

    python bench/grading.py [--students 30] [-n auto] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "labs" / "course"
TARGET_SECONDS = 300


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("-n", "--workers", default="auto")
    parser.add_argument("--keep", type=Path, help="keep the generated class and reports here")
    args = parser.parse_args(argv)
    templates = sorted(p.name for p in (COURSE / "submissions").iterdir() if p.is_dir())
    work = args.keep or Path(tempfile.mkdtemp(prefix="hardlab-bench-grading-"))
    subs, out = work / "class", work / "grades"
    shutil.rmtree(subs, ignore_errors=True)
    template_of = {}
    for n in range(args.students):
        name = f"student-{n + 1:02d}"
        template_of[name] = templates[n % len(templates)]
        shutil.copytree(COURSE / "submissions" / template_of[name], subs / name)
    assignments = 6
    started = time.monotonic()
    cmd = [sys.executable, "-m", "hardlab.cli", "grade", str(subs), "--course", str(COURSE / "course.toml"),
           "--out", str(out), "-n", str(args.workers), "-q"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        print(done.stdout[-3000:] + done.stderr[-3000:], file=sys.stderr)
        print(f"hardlab grade exited with {done.returncode}", file=sys.stderr)
        return 1
    data = json.loads((out / "grades.json").read_text())
    totals = {s["student"]: s["score"] for s in data["students"]}
    # Identical submissions must earn identical scores (copies of one template): a cheap determinism check.
    by_template: dict[str, set[float]] = {}
    for name, score in totals.items():
        by_template.setdefault(template_of[name], set()).add(score)
    unstable = {t: sorted(s) for t, s in by_template.items() if len(s) > 1}
    submissions = args.students * assignments
    print(f"class: {args.students} students x {assignments} assignments = {submissions} submissions "
          f"({len(templates)} sample solutions mixed), workers: {args.workers}")  # fmt: skip
    print(f"total: {elapsed:.1f}s  per submission: {elapsed / submissions:.2f}s  "
          f"target: < {TARGET_SECONDS}s -> {'OK' if elapsed < TARGET_SECONDS else 'TOO SLOW'}")  # fmt: skip
    print("identical submissions, identical scores: " + ("yes" if not unstable else f"NO: {unstable}"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not unstable else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
