"""A host whose clock is far from the store's still runs its fires (issue 10, item 5).

Fires are timed by the store's clock: ``Scheduler._now`` is the host's clock corrected by the
measured skew. The first fires used to be placed before the skew was measured, by the
host's clock: an instance an hour fast placed its first fire an hour late and ran nothing.
The store here keeps its own clock an hour behind the scheduler's, as PostgreSQL's or Redis's
server clock would be; the real servers are in ``tests/reliability/test_time.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler import Interval, Scheduler
from scheduler.stores.memory import MemoryStore
from scheduler.testing import VirtualClock, settle

from .store_wrappers import Skewed


def tick() -> None:
    pass


@pytest.mark.parametrize("behind", [3600.0, -3600.0, 30.0], ids=["fast-1h", "slow-1h", "fast-30s"])
def test_a_lone_instance_with_a_skewed_clock_runs_every_fire(behind: float) -> None:
    clock = VirtualClock("2026-05-04T04:00:00+00:00")
    store = Skewed(MemoryStore(), behind=behind)
    sched = Scheduler(store=store, clock=clock)
    sched.add_job(tick, Interval(seconds=10), id="tick")
    with sched:
        store_start = store.now()
        assert sched._now() == store_start  # measured before the first fire was placed
        assert sched.get_job("tick")._next_fire == store_start + timedelta(seconds=10)
        for _ in range(80):
            clock.advance(1)
            settle(sched)
    runs = sorted(sched.get_runs("tick"), key=lambda r: r.scheduled_time)
    assert [r.scheduled_time for r in runs] == [
        store_start + timedelta(seconds=10 * k) for k in range(1, 9)
    ]
    assert all(r.started_at == r.scheduled_time for r in runs)  # on time, by the store
