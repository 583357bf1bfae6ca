"""Coalesced runs account for every fire once: ``runs + folded = fires of the grid``.

Issue 10, item 8: after an outage, one instance recorded a fire folding 58 overdue fires and
another, back a second later, recorded the next fire folding 59: the same 58 fires counted
twice. Two schedulers share one SQLite file; each sees the store through a switch of its own,
so the test decides exactly when each one is cut off and when it comes back. Time is virtual.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from scheduler import Interval, Scheduler
from scheduler.stores.sqlite import SQLiteStore
from scheduler.testing import VirtualClock, settle

from .store_wrappers import Switchable

HANG = 10.0


def tick() -> None:
    pass


def back(sched: Scheduler, step) -> None:  # type: ignore[no-untyped-def]
    """Move time on (half a second at a time) until the heartbeat, probing with backoff,
    has found the store again; the time it takes is up to the scheduler, as in real life."""
    import time

    deadline = time.monotonic() + HANG
    while True:
        sched._heartbeat.wait_for_fresh_pass(deadline)
        if not sched._pieces.health.out:
            break
        step(0.5)
    settle(sched)


def test_instances_back_from_an_outage_apart_do_not_count_a_fire_twice(tmp_path: Path) -> None:
    clock = VirtualClock("2026-05-04T04:53:00+00:00")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    stores = [Switchable(SQLiteStore(url)), Switchable(SQLiteStore(url))]
    scheds = [Scheduler(store=s, clock=clock, lease_seconds=30) for s in stores]
    a, b = scheds
    for sched in scheds:
        sched.add_job(tick, Interval(seconds=1), id="tick", misfire_grace_time=None)
        sched.start()

    def step(seconds: float = 1) -> None:
        clock.advance(seconds)
        for sched in scheds:
            settle(sched)

    try:
        for _ in range(3):
            step()
        for store in stores:
            store.down = True  # PostgreSQL frozen for a minute, as every instance sees it
        step()
        clock.advance(59)
        stores[0].down = False
        back(a, step)  # A folds the overdue fires into the fire due now, T
        stores[0].down = True  # and is cut off again before T + 1
        step()
        stores[1].down = False
        back(b, step)  # B, a second later, folds the same overdue fires into T + 1
        stores[0].down = False
        step()
        back(a, step)  # A comes back too and folds what it still had pending
        for _ in range(3):
            step()
    finally:
        for sched in scheds:
            sched.shutdown()
    runs = sorted(a.get_runs("tick", limit=1000), key=lambda r: r.scheduled_time)
    fires = [r.scheduled_time for r in runs]
    assert len(fires) == len(set(fires))
    # the grid: one fire a second from the first record to the last
    grid = (fires[-1] - fires[0]) // timedelta(seconds=1) + 1
    accounted = sum(1 + r.coalesced for r in runs)
    assert runs[0].coalesced == 0
    assert accounted == grid, [(r.scheduled_time.time().isoformat(), r.coalesced) for r in runs]
    assert any(r.coalesced >= 58 for r in runs)  # the outage was folded, not replayed
