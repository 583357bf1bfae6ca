#!/usr/bin/env python3
"""Profile one system in one scenario with py-spy (all threads) and print where time goes.

    python bench/profile.py burst [--system scheduler] [--quick] [--top 25]

Needs ``bench/run.py`` to have made ``.bench-venv`` (py-spy is installed there). Writes the
raw collapsed stacks to ``bench/profiles/<system>-<scenario>.txt`` (flamegraph.pl input) and
prints, per thread kind, the functions with the most samples on the stack (inclusive) and on
top of it (self), counting only frames under ``scheduler/`` and ``bench/`` plus the stdlib
frames they call directly.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".bench-venv" / "bin" / "python"
PYSPY = ROOT / ".bench-venv" / "bin" / "py-spy"
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("/scheduler/", "/bench/", "/site-packages/", "/lib/python3"):
        if marker in path:
            path = path[path.index(marker) + 1 :]
            break
    return f"{path}:{m.group('func')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("--system", default="scheduler")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250)
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="profile scheduler/ as of this commit instead of the work tree",
    )
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread, waiting ones too (default: only the thread "
        "holding the GIL, i.e. where CPU time goes)",
    )
    args = parser.parse_args()
    out = ROOT / "bench" / "profiles" / f"{args.system}-{args.scenario}.txt"
    out.parent.mkdir(exist_ok=True)
    cmd = [
        str(PYSPY),
        "record",
        "-r",
        str(args.rate),
        "--threads",
        "--format",
        "raw",
        "-o",
        str(out),
        *([] if args.all_threads else ["--gil"]),
        "--",
        str(PY),
        "-m",
        "bench.worker",
        "--system",
        args.system,
        "--scenario",
        args.scenario,
    ]
    if args.quick:
        cmd.append("--quick")
    workdir = ROOT
    if args.commit:
        sys.path.insert(0, str(ROOT / "bench"))
        from run import snapshot

        workdir, _ = snapshot(args.commit)
    try:
        subprocess.run(cmd, cwd=workdir, check=True)
    finally:
        if workdir != ROOT:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    inclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    own: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    totals: collections.Counter = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        _thread, frames = frames[0], [short(f) for f in frames[1:]]
        kind = thread_kind(frames)
        n = int(count_text)
        totals[kind] += n
        for f in set(frames):
            inclusive[kind][f] += n
        if frames:
            own[kind][frames[-1]] += n
    for kind, total in totals.most_common():
        print(f"\n== {kind}: {total} samples ==")
        print("  inclusive:")
        for f, n in inclusive[kind].most_common(args.top):
            print(f"    {n / total:6.1%}  {f}")
        print("  self:")
        for f, n in own[kind].most_common(args.top // 2):
            print(f"    {n / total:6.1%}  {f}")
    return 0


def thread_kind(frames: list[str]) -> str:
    """Group threads by what they run, so ten pool threads add up to one line."""
    text = ";".join(frames)
    if "_ticker" in text:
        return "ticker thread"
    if "_worker" in text and "thread.py" in text:
        return "pool threads"
    if "_heartbeat" in text:
        return "heartbeat thread"
    if "bench/worker.py:main" in text or "<module>" in text:
        return "main thread"
    return "other threads"


if __name__ == "__main__":
    sys.exit(main())
