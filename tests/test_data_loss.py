"""The store loses its data (Redis restarted without persistence): one grid, no job dropped.

Issue 10, item 2: with three instances and ``Interval(seconds=10)``, Redis lost its data and
a fourth instance started a second later; from then on the job ran every 5 s, on two grids
(the old instances kept their anchor, the new one set another), and a job added at run time
was dropped by every instance. Here four schedulers share one SQLite file that the test
wipes, under a virtual clock, so the grid can be checked exactly; the Redis version of the
scenario is in ``tests/reliability/test_store_faults.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from scheduler import Interval, Scheduler
from scheduler.stores import RunOutcome
from scheduler.stores.sqlite import SQLiteStore
from scheduler.testing import VirtualClock, settle

from .store_wrappers import Losses, Lossy

TEN = timedelta(seconds=10)


def tick() -> None:
    pass


def extra() -> None:
    pass


def on_one_grid(sched: Scheduler, job_id: str, since) -> list:  # type: ignore[no-untyped-def]
    """The runs of ``job_id`` scheduled after ``since``, checked to lie on the grid of the
    anchor the store keeps, one run for each of its fires (nothing folded, nothing twice)."""
    stored = sched.store.get_job(job_id)
    assert stored is not None, f"{job_id} is gone from the store"
    runs = sorted(
        (r for r in sched.get_runs(job_id, limit=1000) if r.scheduled_time > since),
        key=lambda r: r.scheduled_time,
    )
    fires = [r.scheduled_time for r in runs]
    assert all((f - stored.anchor) % TEN == timedelta(0) for f in fires), (stored.anchor, fires)
    assert [b - a for a, b in pairwise(fires)] == [TEN] * (len(fires) - 1), fires
    assert all(r.outcome is RunOutcome.SUCCEEDED and r.coalesced == 0 for r in runs)
    return runs


@pytest.mark.parametrize("new_instance", [True, False], ids=["fourth-instance", "alone"])
def test_after_a_data_loss_every_instance_fires_on_one_grid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, new_instance: bool
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler")
    clock = VirtualClock("2026-05-04T04:00:00+00:00")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    losses = Losses()
    scheds: list[Scheduler] = []

    def instance() -> Scheduler:
        sched = Scheduler(
            store=Lossy(SQLiteStore(url), losses), clock=clock, allowed_modules=[__name__]
        )
        sched.add_job(tick, Interval(seconds=10), id="tick")
        sched.start()
        scheds.append(sched)
        return sched

    def step(seconds: int) -> None:
        for _ in range(seconds):
            clock.advance(1)
            for sched in scheds:
                settle(sched)

    try:
        for _ in range(3):
            instance()
        scheds[0].add_job(extra, Interval(seconds=10), id="extra")  # added at run time
        step(35)  # every instance has loaded "extra" (dynamic jobs sync every 10 s)
        assert all("extra" in [j.id for j in s.get_jobs()] for s in scheds)
        lost_at = clock.now()
        scheds[0].store.wipe()  # type: ignore[attr-defined]
        step(1)
        if new_instance:
            instance()  # started a second later: it registers "tick" with a new anchor
        step(70)
    finally:
        for sched in scheds:
            sched.shutdown()
    end = clock.now()
    settled = lost_at + TEN + TEN  # the fires placed on the old grid are behind us by then
    for job_id in ("tick", "extra"):  # "extra" survived the loss
        # nothing ran off the stored grid after the loss, not even during the change-over
        on_one_grid(scheds[0], job_id, lost_at)
        runs = on_one_grid(scheds[0], job_id, settled)
        anchor = scheds[0].store.get_job(job_id).anchor  # type: ignore[union-attr]
        assert len(runs) == (end - anchor) // TEN - (settled - anchor) // TEN  # every fire
    assert all("extra" in [j.id for j in s.get_jobs()] for s in scheds)
    assert caplog.text.count("the store lost its data; registered") == 3


def test_a_job_removed_by_another_instance_is_dropped_with_a_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a data loss, a job added at run time that leaves the store was removed on
    purpose: the other instances drop it (and now say so), they do not bring it back."""
    caplog.set_level(logging.INFO, logger="scheduler")
    clock = VirtualClock("2026-05-04T04:00:00+00:00")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    losses = Losses()
    scheds = [
        Scheduler(store=Lossy(SQLiteStore(url), losses), clock=clock, allowed_modules=[__name__])
        for _ in range(2)
    ]
    for sched in scheds:
        sched.start()
    try:
        scheds[0].add_job(extra, Interval(seconds=10), id="extra")
        for _ in range(11):
            clock.advance(1)
            for sched in scheds:
                settle(sched)
        assert [j.id for j in scheds[1].get_jobs()] == ["extra"]
        scheds[0].remove_job("extra")
        for _ in range(11):
            clock.advance(1)
            for sched in scheds:
                settle(sched)
    finally:
        for sched in scheds:
            sched.shutdown()
    assert scheds[1].get_jobs() == []
    assert scheds[0].store.get_job("extra") is None
    assert "job extra is no longer in the store (removed by another instance)" in caplog.text
