#!/usr/bin/env python3
"""Two CPU-bound jobs of about one second each, on ``executor="thread"`` and ``"process"``.

    python bench/executors.py [--rounds 5]

Each round submits both jobs at once (``run_job``) and measures the wall time until both
have returned. Threads share the GIL, so the two jobs take about twice one job; worker
processes run them on two cores when the machine has them. "cold" includes starting the
workers (the first process run of a scheduler); "warm" reuses them. Prints a markdown
section for ``bench/RESULTS.md`` (``bench/run.py`` does not run this bench).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.jobs import burn
from scheduler import Scheduler


def calibrate(target: float = 1.0) -> int:
    n = 200_000
    while True:
        began = time.perf_counter()
        burn(n)
        took = time.perf_counter() - began
        if took > 0.2:
            return int(n * target / took)
        n *= 2


def both(sched: Scheduler) -> float:
    began = time.perf_counter()
    futures = [sched.run_job(job.id) for job in sched.get_jobs()]
    for future in futures:
        future.result(timeout=120)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    n = calibrate()
    one = statistics.median(_timed(n) for _ in range(3))
    rows: dict[str, list[float]] = {"thread": [], "process (cold)": [], "process (warm)": []}
    for _ in range(rounds):
        for executor in ("thread", "process"):
            sched = Scheduler(max_workers=2, max_processes=2)
            for i in range(2):
                sched.add_job(burn, "0 0 1 1 *", id=f"burn-{i}", args=[n], executor=executor)
            with sched:
                if executor == "thread":
                    rows["thread"].append(both(sched))
                else:
                    rows["process (cold)"].append(both(sched))
                    rows["process (warm)"].append(both(sched))
    load = os.getloadavg()[0]
    print("## 8. Executors: two CPU-bound jobs of about 1 s each, started together\n")
    print(f"- command: `python bench/executors.py --rounds {rounds}`; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}, "
          f"load average {load:.2f} at the end")
    print(f"- one job alone, in this process: {one:.2f} s (median of 3); cells are medians "
          f"over {rounds} rounds of the wall time until both jobs have returned\n")
    print("| executor | wall time for both (s) | / one job alone |")
    print("|---|---|---|")
    for name, values in rows.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / one:.2f}x |")


def _timed(n: int) -> float:
    began = time.perf_counter()
    burn(n)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
