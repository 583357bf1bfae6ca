"""Retry policy: every delay the scheduler waits before it tries something again.

One place, named, so that a change of policy is one edit:

* a failed job's next attempt (:func:`job_retry_delay`: 1, 2, 4, ... seconds, capped);
* writing a run's outcome through a short store outage (:data:`FINISH_RETRY_DELAYS`);
* probing a store that is out (:class:`Backoff` with :data:`PROBE_FIRST` .. :data:`PROBE_MAX`,
  reset once the store has stayed up :data:`PROBE_RESET_AFTER` seconds);
* reading back a claim whose commit reply was lost with the connection
  (:data:`STORE_CALL_RETRY_DELAYS`, the SQL stores);
* what counts as the same outage (:data:`FLAP_WINDOW`).

Threads and state: constants and pure functions; a :class:`Backoff` belongs to the one thread
that uses it (the heartbeat's probe) and has no lock.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "FINISH_RETRY_DELAYS",
    "FLAP_WINDOW",
    "JOB_RETRY_CAP",
    "PROBE_FIRST",
    "PROBE_MAX",
    "PROBE_RESET_AFTER",
    "STORE_CALL_RETRY_DELAYS",
    "Backoff",
    "job_retry_delay",
]

#: the longest wait between two attempts of a failed job (seconds)
JOB_RETRY_CAP = 300.0
#: a run's outcome is written again after these delays while the store is out (seconds);
#: past them the lease expires and a peer records the run as lost
FINISH_RETRY_DELAYS = (0.0, 0.5, 1.0, 2.0, 4.0)
#: a SQL claim whose commit reply was lost is read back after these delays (seconds)
STORE_CALL_RETRY_DELAYS = (0.0, 0.2, 1.0)
#: the first and the longest wait between two probes of a store that is out (seconds)
PROBE_FIRST = 0.5
PROBE_MAX = 10.0
#: the probe backoff starts again from PROBE_FIRST once the store has answered this long
PROBE_RESET_AFTER = 60.0
#: a store that fails again within this time of coming back is one outage (logged at DEBUG)
FLAP_WINDOW = timedelta(seconds=60)


def job_retry_delay(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1`` of a failed job: 1, 2, 4, ... capped."""
    return float(min(2 ** (attempt - 1), JOB_RETRY_CAP))


class Backoff:
    """A delay that doubles on each failure, up to a cap, until :meth:`reset`."""

    def __init__(self, first: float = PROBE_FIRST, cap: float = PROBE_MAX) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def next(self) -> float:
        """The delay to wait now; the following one is twice as long (up to the cap)."""
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay

    @property
    def raised(self) -> bool:
        return self.delay > self.first

    def reset(self) -> None:
        self.delay = self.first
