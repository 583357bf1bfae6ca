"""Now, as the store sees it: the one clock-skew check.

Stores with a server clock (``Store.server_clock``: PostgreSQL, Redis) time leases by it, so
fires must be timed by it too, or a host whose clock is fast would start fires early. This
piece measures how far this host's clock is from the store's and corrects :meth:`now` by it.

Threads and state
-----------------
* ``skew`` (seconds, local minus store) is written by whichever thread measures: ``start()``
  once before any fire is placed, then only the heartbeat thread. Any thread reads it. A float
  attribute is rebound atomically, so it needs no lock.
* ``_warned`` makes the skew warning appear once per scheduler; written by the measuring
  thread only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ._clock import Clock

if TYPE_CHECKING:
    from ._report import Reporter
    from .stores import Store

__all__ = ["SKEW_INTERVAL", "SKEW_WARN", "StoreTime"]

#: a skew beyond this (seconds) is worth a warning: fix NTP on the host
SKEW_WARN = 2.0
#: how often the heartbeat measures the skew again (seconds)
SKEW_INTERVAL = 60.0


class StoreTime:
    """The scheduler's ``now``: the wall clock, corrected by the skew from the store's clock."""

    def __init__(self, clock: Clock, store: Store, reporter: Reporter) -> None:
        self.clock = clock
        self._store = store
        self._reporter = reporter
        self.skew = 0.0  # Invariant: written by the measuring thread; a rebinding is atomic
        self._warned = False  # Invariant: the measuring thread only

    @property
    def measured(self) -> bool:
        """The store has a clock of its own to measure against."""
        return self._store.server_clock

    def now(self) -> datetime:
        """Now by the store's clock where it has one (the local clock corrected by skew)."""
        now = self.clock.now()
        skew = self.skew
        return now - timedelta(seconds=skew) if skew else now

    def measure(self) -> float:
        """Measure the skew against the store's clock (half the round trip counted), keep
        it, and warn once when it is past :data:`SKEW_WARN`.

        :raises StoreUnavailable: the store does not answer
        """
        before = self.clock.now()
        store_now = self._store.now()
        after = self.clock.now()
        skew = (before + (after - before) / 2 - store_now).total_seconds()
        self.skew = skew
        if abs(skew) > SKEW_WARN and not self._warned:
            self._warned = True
            self._reporter.clock_skew(skew)
        return skew
