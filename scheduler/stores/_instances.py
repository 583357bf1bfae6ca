"""Live scheduler instances in the store: who is running, since when, and what.

Every started scheduler writes one row about itself (:class:`InstanceInfo`) when it starts,
refreshes it on each heartbeat (every third of ``lease_seconds``) with a new lease, and
deletes it on shutdown. A process that was killed stops refreshing: its row drops out of
:meth:`Instances.list_instances` once its lease has expired (judged by the store's clock
where it has one), and is deleted for good :data:`FORGET_AFTER` later by any beating peer.

:class:`Instances` is the part of the :class:`~scheduler.stores.Store` interface that keeps
them. Its methods have defaults (a store that keeps no instances lists none), so a store
written before this existed still works; every built-in store implements them.

Threads and state: :class:`InstanceInfo` is immutable; :class:`Instances` keeps nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Owner

__all__ = ["FORGET_AFTER", "InstanceInfo", "Instances", "running_from_json", "running_json"]

#: an instance whose lease expired this long ago is deleted by the next beat of any peer
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceInfo:
    """One live scheduler instance, as the store has it.

    Times are aware UTC, from the store's clock where it has one (PostgreSQL, Redis).
    """

    instance: str  #: ``host:pid:instance``, the owner string its claims carry
    host: str
    pid: int
    version: str  #: the library version it runs
    started_at: datetime
    last_heartbeat: datetime
    lease_expires: datetime  #: it counts as alive until then
    running: tuple[str, ...] = ()  #: ids of the jobs it is running now, sorted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 text, ``running`` as a list."""
        return {
            "instance": self.instance,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": self.started_at.isoformat(),
            "last_heartbeat": self.last_heartbeat.isoformat(),
            "lease_expires": self.lease_expires.isoformat(),
            "running": list(self.running),
        }


def running_json(running: Sequence[str]) -> str:
    """The running job ids as stored (a JSON list, sorted, no duplicates)."""
    import json  # when first used: json is not part of ``import scheduler`` (#15)

    return json.dumps(sorted(set(running)), separators=(",", ":"))


def running_from_json(text: str | None) -> tuple[str, ...]:
    import json

    return tuple(json.loads(text)) if text else ()


class Instances:
    """The store methods that keep live instances (mixed into :class:`Store`)."""

    def beat_instance(
        self,
        owner: Owner,
        *,
        version: str,
        started_at: datetime,
        running: Sequence[str],
        lease_seconds: float,
    ) -> None:
        """Insert or refresh ``owner``'s row: ``last_heartbeat`` = now and ``lease_expires``
        = now + ``lease_seconds`` by the store's clock, ``running`` replaced; ``started_at``
        is kept from the first beat. Rows expired for :data:`FORGET_AFTER` are deleted.

        :raises StoreUnavailable: the store cannot be reached
        """

    def remove_instance(self, instance: str) -> None:
        """Delete the row of ``instance`` (``host:pid:instance``); unknown ones are ignored.

        :raises StoreUnavailable: the store cannot be reached
        """

    def list_instances(self) -> list[InstanceInfo]:
        """The live instances (lease not expired), oldest first.

        :raises StoreUnavailable: the store cannot be reached
        """
        return []
