"""This scheduler's row among the live instances in the store.

``start()`` writes it (:meth:`Presence.join`, with the store open, before the threads
start: a failure there fails ``start()`` like any other store failure), the heartbeat
refreshes it every third of the lease together with the leases of running jobs
(:meth:`Presence.beat`: the ids of the jobs running now, a new lease), and shutdown deletes
it (:meth:`Presence.leave`) once the threads have stopped. A killed process leaves its row
behind; it stops counting when its lease expires (:meth:`Store.list_instances`).

Threads and state
-----------------
* ``started_at`` is written by ``join`` (under ``Scheduler._life``) and read by the
  heartbeat thread afterwards; a rebinding, so it needs no lock.
* Everything else is immutable. No lock; the store is called without any held.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stores import Owner, Store

__all__ = ["Presence", "library_version"]


def library_version() -> str:
    """The version of this library (the package's ``__version__``)."""
    from . import __version__  # at call time: this module is imported by the package's

    return __version__


class Presence:
    """One scheduler's instance row.

    :param running: the ids of the jobs running here now (the runner's)
    """

    def __init__(
        self,
        *,
        store: Store,
        owner: Owner,
        lease_seconds: float,
        now: Callable[[], datetime],
        running: Callable[[], list[str]],
    ) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease_seconds
        self._now = now
        self._running = running
        self.started_at: datetime | None = None  # Invariant: rebound by join() only

    def join(self) -> None:
        """Write the row at ``start()``. :raises StoreUnavailable: the store is out"""
        self.started_at = self._now()
        self.beat()

    def beat(self) -> None:
        """Refresh the row: a new lease and the jobs running now (heartbeat thread).

        :raises StoreUnavailable: the store is out (the heartbeat reports the outage)
        """
        started = self.started_at
        if started is None:
            return
        self._store.beat_instance(
            self._owner,
            version=library_version(),
            started_at=started,
            running=self._running(),
            lease_seconds=self._lease,
        )

    def leave(self) -> None:
        """Delete the row at shutdown; a store that is out keeps it until its lease ends."""
        if self.started_at is None:
            return
        with contextlib.suppress(Exception):  # shutdown goes on; the lease will expire
            self._store.remove_instance(str(self._owner))
