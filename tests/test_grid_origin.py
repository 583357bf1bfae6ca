"""The anchor of an interval (the job's first registration) is its grid's origin, never a fire.

Seen under load on Redis (``test_interval_job_instances_started_apart[redis]``): runs at
``anchor + 0, 0.5, 1.0, ...`` instead of ``anchor + 0.5, 1.0, ...``. ``start()`` measures the
skew to the store's clock from one round trip, taking the midpoint of the host's clock before
and after; when the reply is read late (the process was descheduled with it in its socket)
the skew comes out too large by half that delay, now by the store's clock reads a few ms early,
and the anchor the store set during registration, just before, looked like a future time:
the anchored interval answers any earlier time with the anchor itself, so the first fire
was the anchor. The store here reads its clock, then the scheduler's clock moves on before
the answer comes back, so the measured skew is off exactly as it was there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler import Interval, Scheduler
from scheduler.stores.memory import MemoryStore
from scheduler.testing import VirtualClock, settle

from .store_wrappers import Wrapped

TEN = timedelta(seconds=10)


def tick() -> None:
    pass


class LateReply(Wrapped):
    """A store with a clock of its own (the scheduler's clock) whose answer to :meth:`now`
    reaches the scheduler ``late`` seconds after it was read."""

    server_clock = True  # the capability the scheduler measures its skew against

    def __init__(self, inner: MemoryStore, clock: VirtualClock, late: float) -> None:
        super().__init__(inner)
        self.virtual = clock
        self.late = late

    def now(self) -> datetime:
        server = self.inner.now()
        self.virtual.advance(self.late)  # time passes before the caller reads the reply
        return server


def test_a_skew_measured_a_little_off_puts_no_fire_at_the_anchor() -> None:
    clock = VirtualClock("2026-05-04T04:00:00+00:00")
    store = LateReply(MemoryStore(), clock, late=0.004)
    sched = Scheduler(store=store, clock=clock)
    sched.add_job(tick, Interval(seconds=10), id="tick")
    with sched:
        stored = store.get_job("tick")
        assert stored is not None
        anchor = stored.anchor
        assert sched._pieces.store_time.skew > 0  # the host looks 2 ms fast: now reads early
        assert sched._now() < anchor
        assert sched.get_job("tick").next_run_time == anchor + TEN
        for _ in range(35):
            clock.advance(1)
            settle(sched)
    fires = sorted(r.scheduled_time for r in sched.get_runs("tick"))
    assert fires == [anchor + k * TEN for k in (1, 2, 3)]


def test_a_job_with_a_start_still_fires_at_its_start() -> None:
    """An explicit ``start`` is a fire (the README's promise), not an anchor to skip."""
    clock = VirtualClock("2026-05-04T04:00:00+00:00")
    store = LateReply(MemoryStore(), clock, late=0.004)
    sched = Scheduler(store=store, clock=clock)
    start = clock.now() + timedelta(seconds=5)
    sched.add_job(tick, Interval(seconds=10, start=start), id="tick")
    with sched:
        assert sched.get_job("tick").next_run_time == start
        for _ in range(20):
            clock.advance(1)
            settle(sched)
    fires = sorted(r.scheduled_time for r in sched.get_runs("tick"))
    assert fires == [start, start + TEN]
