"""The clock seam: the one place the library reads time.

Deciding what is due uses the wall clock (:meth:`Clock.now`, aware UTC); waiting uses an
:class:`threading.Event` with a timeout measured on the monotonic clock. Tests replace the
whole object (:class:`scheduler.testing.VirtualClock`), so no test patches ``datetime``.
The system clock reads ``datetime.now`` at call time, so freezegun works too.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

__all__ = ["Clock", "SystemClock"]


class Clock:
    """What the ticker and runner need from time. Subclass to replace it."""

    def now(self) -> datetime:
        """The current wall-clock time, aware, in UTC."""
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations and timeouts)."""
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block until ``event`` is set or ``timeout`` seconds have passed; True if it was set."""
        return event.wait(timeout)

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep ``seconds``, returning early (True) when ``cancel`` is set."""
        if cancel is None:
            cancel = threading.Event()
        return self.wait(cancel, max(0.0, seconds))


class SystemClock(Clock):
    """The real clock."""
