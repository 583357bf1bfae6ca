"""The ticker's heap does not grow with churn (issue 10, item 3).

Removing a job leaves its heap entry behind, stale, until its fire time comes; a fire a
month out stays a month. Adding and removing 10,000 such jobs a cycle grew the heap (and
RSS, about 16 MiB) by 10,000 entries a cycle while ``get_jobs()`` returned 2. Now the heap
is rebuilt once its stale entries outnumber the live ones.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest

from scheduler import Interval, Scheduler
from scheduler._ticker import COMPACT_FLOOR
from scheduler.testing import VirtualClock

from .core_support import START


def noop() -> None:
    pass


@pytest.mark.parametrize("how", ["remove", "pause", "replace"])
def test_heap_stays_bounded_while_far_off_jobs_come_and_go(how: str) -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    sched.add_job(noop, Interval(seconds=1), id="every-second")
    sched.add_job(noop, "0 3 * * *", id="daily")
    with sched:
        sizes = []
        for cycle in range(10):
            ids = [f"far-{cycle}-{n}" for n in range(2000)]
            for job_id in ids:
                sched.add_job(noop, Interval(days=30), id=job_id)
            for job_id in ids:
                if how == "remove":
                    sched.remove_job(job_id)
                elif how == "pause":
                    sched.pause_job(job_id)
                else:  # replaced by a far-off one-off: the old entry goes stale
                    sched.add_job(noop, Interval(days=31), id=job_id, replace_existing=True)
            clock.advance(2, scheduler=sched)  # the every-second job goes on running
            sizes.append(len(sched._ticker._heap))
        live = sum(1 for job in sched.get_jobs() if job.next_run_time is not None)
        assert live == (2 + 2000 * 10 if how == "replace" else 2)
        # at most twice the live entries (or the small floor below which it never compacts)
        assert max(sizes) <= max(2 * live, COMPACT_FLOOR) + 1, sizes
        assert len(sched.get_runs("every-second", limit=100)) == 20
        if how == "remove":  # nor does the memory store keep the rows of removed jobs
            assert len(sched.store.load_jobs(dynamic_only=False)) == 2


def test_compaction_keeps_every_live_fire_in_order() -> None:
    """Rebuilding the heap loses no live entry and keeps them in time order: the jobs that
    stay fire, each at its time."""
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    keep = [sched.add_job(noop, Interval(seconds=10 + n), id=f"keep-{n}") for n in range(5)]
    with sched:
        for n in range(500):
            sched.add_job(noop, Interval(days=30), id=f"gone-{n}")
            sched.remove_job(f"gone-{n}")
        assert len(sched._ticker._heap) <= COMPACT_FLOOR + 1
        clock.advance(60, scheduler=sched)
    for n, job in enumerate(keep):
        fires = sorted(r.scheduled_time for r in sched.get_runs(job.id, limit=100))
        assert len(fires) == 60 // (10 + n)
        assert all(b - a == timedelta(seconds=10 + n) for a, b in pairwise(fires))
