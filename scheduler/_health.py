"""The store's health: is it out, since when, and which fires wait for it.

When a store call fails with :class:`~scheduler.exceptions.StoreUnavailable`, nothing may run
unclaimed: the job whose claim failed leaves the ticker's heap (the registry *parks* it) and
its first unsettled fire waits here; the heartbeat probes the store with backoff
(:class:`~scheduler._retry.Backoff`); when the store answers, :meth:`StoreHealth.recovered`
hands the waiting fires back, to be judged by the misfire and coalesce rules.

Threads and state
-----------------
* ``_since`` (start of the current outage, or None), ``_outages`` (the last ten, for "was
  this fire due during an outage?") and ``_waiting`` (job id -> (job, first unsettled fire))
  are guarded by ``StoreHealth._lock``. Pool threads and the heartbeat report failures and
  recoveries; any thread reads. ``out`` reads ``_since`` without the lock (one rebinding).
* ``probe`` belongs to the heartbeat thread alone.
* The lock is a leaf: nothing else is locked, no store is called and nothing is reported
  while it is held.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ._retry import FLAP_WINDOW, PROBE_RESET_AFTER, Backoff

if TYPE_CHECKING:
    from ._report import Reporter
    from .job import Job

__all__ = ["StoreHealth"]

#: outages remembered for the misfire reason "(store_unavailable)"
OUTAGES_KEPT = 10


class StoreHealth:
    """Outage state of one scheduler's store.

    :param now: the scheduler's ``now``
    :param wake_heartbeat: wakes the heartbeat thread (it probes the store during an outage)
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        reporter: Reporter,
        store_name: str,
        wake_heartbeat: Callable[[], None],
    ) -> None:
        self._now = now
        self._reporter = reporter
        self._store_name = store_name
        self._wake_heartbeat = wake_heartbeat
        self._lock = threading.Lock()
        self._since: datetime | None = None  # Invariant: written under _lock
        self._outages: list[tuple[datetime, datetime]] = []  # Invariant: under _lock
        self._waiting: dict[str, tuple[Job, datetime]] = {}  # Invariant: under _lock
        self.probe = Backoff()  # Invariant: the heartbeat thread only

    @property
    def out(self) -> bool:
        """The store is out (a call failed and no probe or call has succeeded since)."""
        return self._since is not None

    def failed(self, exc: BaseException, waiting: tuple[Job, datetime] | None = None) -> None:
        """A store call failed: remember ``waiting`` (a parked job and its first unsettled
        fire) and report the outage once."""
        with self._lock:
            now = self._now()
            first = self._since is None
            if first:
                self._since = now
            # A store that answers a probe and fails the next call again within the flap
            # window is one outage, not many: its repeats are logged at DEBUG.
            flap = bool(self._outages) and (now - self._outages[-1][1]) < FLAP_WINDOW
            if waiting is not None:
                self._waiting.setdefault(waiting[0].id, waiting)
        if first:
            self._reporter.store_unavailable(self._store_name, exc, flap=flap)
        self._wake_heartbeat()

    def recovered(self) -> list[tuple[Job, datetime]]:
        """The store answered: end the outage (if one is under way) and return the fires
        that waited for it (the caller places them again)."""
        with self._lock:
            since = self._since
            if since is None:
                return []
            self._since = None
            now = self._now()
            self._outages = [*self._outages[-(OUTAGES_KEPT - 1) :], (since, now)]
            waiting = list(self._waiting.values())
            self._waiting.clear()
            flap = len(self._outages) > 1 and (since - self._outages[-2][1]) < FLAP_WINDOW
        self._reporter.store_back((now - since).total_seconds(), len(waiting), flap=flap)
        return waiting

    def forget(self, job_id: str) -> None:
        """The job was removed: its fire no longer waits."""
        with self._lock:
            self._waiting.pop(job_id, None)

    def healthy_for(self, seconds: float) -> bool:
        """No outage now, nor in the last ``seconds``."""
        with self._lock:
            if self._since is not None:
                return False
            if not self._outages:
                return True
            end = self._outages[-1][1]
        return (self._now() - end).total_seconds() >= seconds

    def settle_probe(self) -> None:
        """Reset the probe backoff once the store has stayed up (heartbeat thread)."""
        if self.probe.raised and self.healthy_for(PROBE_RESET_AFTER):
            self.probe.reset()

    def covers(self, fire: datetime) -> bool:
        """``fire`` fell due during an outage (the current one or a remembered one)."""
        with self._lock:
            if self._since is not None and fire >= self._since:
                return True
            return any(start <= fire <= end for start, end in self._outages)
