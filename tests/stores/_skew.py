"""The scheduler's one clock-skew check (scheduler._storetime) against a real server clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler._clock import Clock
from scheduler._report import Reporter
from scheduler._storetime import StoreTime
from scheduler.stores import Store


class _FastClock(Clock):
    """This host's clock, 30 s ahead of the server's."""

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=30)


def measure_twice(store: Store) -> None:
    """The scheduler's one skew check (scheduler._storetime), run twice against ``store``."""
    fast = _FastClock()
    store_time = StoreTime(fast, store, Reporter(fast.now))
    assert store_time.measured  # the store says it has a clock of its own
    store_time.measure()
    store_time.measure()
