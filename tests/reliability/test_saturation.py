"""Pool saturation (scenario 21): far more due fires than workers for a long time.

The pool's queue never holds more than one waiting fire per job (memory stays bounded
however long the pool is stuck), lateness is judged when a fire would start (missed past
``misfire_grace_time``), max_instances turns overlapping fires into ``skipped``, and the
outcomes add up to the fires: nothing is dropped silently.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from scheduler import Interval, Scheduler
from scheduler.testing import VirtualClock, settle

from .faults import check_history

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
JOBS = 10
SECONDS = 20  # 10 jobs x 20 s = 200 fires
WORKERS = 4


def one_pass(sched: Scheduler) -> None:
    """Wake the ticker and wait until it has completed a pass (hang guard 10 s)."""
    ticker = sched._ticker
    for _ in range(2):
        with ticker._passed:
            seen = ticker.passes
        ticker.wake()
        with ticker._passed:
            assert ticker._passed.wait_for(lambda seen=seen: ticker.passes > seen, 10)


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesce", "no-coalesce"])
def test_two_hundred_fires_on_four_workers(coalesce: bool) -> None:
    clock = VirtualClock(T0)
    sched = Scheduler(clock=clock, max_workers=WORKERS)
    release = threading.Event()
    started = Counter[str]()

    def busy(n: int) -> None:
        started[f"job-{n}"] += 1
        release.wait(60)  # the pool stays saturated until the test lets go

    for n in range(JOBS):
        sched.add_job(busy, Interval(seconds=1), id=f"job-{n}", args=(n,),
                      misfire_grace_time=5, coalesce=coalesce)
    tracemalloc.start()
    try:
        with sched:
            queue_peak = 0
            for _ in range(SECONDS):
                clock.advance(1)
                one_pass(sched)
                waiting = sched._pool._queue.qsize()  # type: ignore[attr-defined]
                queue_peak = max(queue_peak, waiting)
                # at most one fire per job waits in the pool (besides the runs under way)
                in_pool = sched._runner.inflight
                assert waiting <= JOBS, f"{waiting} fires wait in the pool for {JOBS} jobs"
                assert in_pool <= JOBS + WORKERS, f"{in_pool} fires in the pool for {JOBS} jobs"
            mid_memory, _ = tracemalloc.get_traced_memory()
            assert sched._pool.threads == WORKERS
            release.set()
            settle(sched, timeout=30)
            history = sched.get_runs(limit=100_000)
            outcomes = check_history(history)
            # every fire up to now is accounted for: a run (folding `coalesced` others), or
            # a record saying why not
            per_job = Counter[str]()
            for run in history:
                per_job[run.job_id] += 1 + run.coalesced
            assert per_job == {f"job-{n}": SECONDS for n in range(JOBS)}, per_job
            if not coalesce:
                assert len(history) == JOBS * SECONDS
            # misfire judged at start: a fire that waited past its grace is missed, and
            # says by how much
            missed = [r for r in history if str(r.outcome) == "missed"]
            assert missed and all("late" in (r.error or "") for r in missed)
            assert outcomes["succeeded"] == sum(started.values())
            assert queue_peak <= JOBS
            end_memory, _ = tracemalloc.get_traced_memory()
            assert sched.shutdown(timeout=5)
    finally:
        tracemalloc.stop()
    # the run history is the only thing that grows with fires; the rest stays small
    assert mid_memory < 20_000_000 and end_memory < 20_000_000


def test_saturated_pool_memory_does_not_grow_with_time() -> None:
    """Stuck for 2,000 s of fires (20,000 fires due), the pool still holds one fire per job."""
    clock = VirtualClock(T0)
    sched = Scheduler(clock=clock, max_workers=2)
    release = threading.Event()
    for n in range(JOBS):
        sched.add_job(release.wait, Interval(seconds=1), id=f"stuck-{n}", args=(60,))
    with sched:
        sizes = []
        for _ in range(20):
            clock.advance(100)
            one_pass(sched)
            sizes.append(sched._pool._queue.qsize())  # type: ignore[attr-defined]
        assert max(sizes) <= JOBS, sizes
        release.set()
        settle(sched, timeout=30)
        history = sched.get_runs(limit=100_000)
        check_history(history)
        assert sum(1 + r.coalesced for r in history) == JOBS * 2000
        assert sched.shutdown(timeout=5)  # every run ended: a clean stop
    assert timedelta(0) <= clock.now() - T0
