"""RSS and ticker heap size while far-off jobs are added and removed (issue 10, item 3).

A scheduler runs a job every second and a daily one; each cycle adds ``--jobs`` jobs that
fire 30 days out and removes them again. Memory must not grow with the cycles::

    python bench/churn_rss.py                 # 10 cycles of 10,000 jobs
    python bench/churn_rss.py --cycles 5 --jobs 2000

Prints one line per cycle: RSS (MiB, from /proc/self/statm) and heap entries. Not a timed
benchmark: the figures are sizes.
"""

from __future__ import annotations

import argparse
import gc
import os
from datetime import timedelta


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def noop() -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()

    from scheduler import Scheduler

    sched = Scheduler()
    sched.add_job(noop, timedelta(seconds=1), id="every-second")
    sched.add_job(noop, "0 3 * * *", id="daily")
    with sched:
        gc.collect()
        print(f"start    rss {rss_mib():7.1f} MiB  heap {len(sched._ticker._heap):7d}")
        for cycle in range(1, args.cycles + 1):
            ids = [f"far-{cycle}-{n}" for n in range(args.jobs)]
            for job_id in ids:
                sched.add_job(noop, timedelta(days=30), id=job_id)
            for job_id in ids:
                sched.remove_job(job_id)
            gc.collect()
            print(
                f"cycle {cycle:2d} rss {rss_mib():7.1f} MiB  heap {len(sched._ticker._heap):7d}"
                f"  jobs {len(sched.get_jobs())}"
            )


if __name__ == "__main__":
    main()
