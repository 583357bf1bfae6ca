"""The rows of :class:`~scheduler.stores.memory.MemoryStore`: small mutable objects.

Rows are updated in place under the store's lock; the frozen
:class:`~scheduler.stores.StoredJob` and :class:`~scheduler.stores.RunRecord` are built
(:meth:`frozen`) only when one is handed out.

Threads and state: no lock of their own; every access is under ``MemoryStore._lock``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from . import JobDefinition, RunOutcome, RunRecord, StoredJob

__all__ = ["_Definition", "_DefinitionSource", "_History", "_Job", "_Run"]


class _DefinitionSource(Protocol):
    """What builds a definition when it is first read (a :class:`~scheduler.job.Job`)."""

    def get_definition(self) -> JobDefinition: ...


#: a row's definition, or (a job of this process: :meth:`MemoryStore.register_local`) what
#: builds it on first read
_Definition = JobDefinition | _DefinitionSource


class _Job:
    """A job row. Anchor and registration time are usually one shared datetime object; the
    definition of a job of this process is built when first read."""

    __slots__ = (
        "anchor",
        "broken",
        "definition",
        "fingerprint",
        "last_fire",
        "paused",
        "registered_at",
        "registered_by",
    )

    def __init__(
        self,
        definition: _Definition,
        fingerprint: str,
        anchor: datetime,
        last_fire: datetime | None,
        registered_by: str,
    ) -> None:
        self.definition = definition
        self.fingerprint = fingerprint
        self.anchor = anchor
        self.last_fire = last_fire
        self.registered_by = registered_by
        self.registered_at = anchor
        self.broken: str | None = None
        self.paused = False

    def stored_definition(self) -> JobDefinition:
        """The definition, built here if :meth:`MemoryStore._resolve` has not built it (a
        row re-registered between the two: rare)."""
        definition = self.definition
        if not isinstance(definition, JobDefinition):
            definition = self.definition = definition.get_definition()
        return definition

    def frozen(self) -> StoredJob:
        return StoredJob(
            definition=self.stored_definition(),
            fingerprint=self.fingerprint,
            anchor=self.anchor,
            last_fire=self.last_fire,
            registered_by=self.registered_by,
            registered_at=self.registered_at,
            broken=self.broken,
            paused=self.paused,
        )


class _Run:
    """A run row; the fields of :class:`~scheduler.stores.RunRecord`."""

    __slots__ = (
        "attempt",
        "cancel_requested",
        "claimed_at",
        "coalesced",
        "error",
        "finished_at",
        "job_id",
        "killed",
        "lease_expires",
        "outcome",
        "owner",
        "requested_by",
        "result",
        "run_id",
        "scheduled_time",
        "started_at",
        "token",
        "trigger",
    )

    def __init__(
        self,
        run_id: str,
        job_id: str,
        scheduled_time: datetime,
        outcome: RunOutcome | None,
        token: int,
        claimed_at: datetime | None,
        finished_at: datetime | None,
        lease_expires: datetime | None,
        error: str | None,
        owner: str,
        coalesced: int,
    ) -> None:
        self.run_id = run_id
        self.job_id = job_id
        self.scheduled_time = scheduled_time
        self.outcome = outcome
        self.attempt = 1
        self.token = token
        self.claimed_at = claimed_at
        self.started_at: datetime | None = None
        self.finished_at = finished_at
        self.lease_expires = lease_expires
        self.error = error
        self.result: str | None = None
        self.owner = owner
        self.coalesced = coalesced
        self.cancel_requested = False
        self.killed = False
        self.trigger = "schedule"
        self.requested_by: str | None = None

    def frozen(self) -> RunRecord:
        return RunRecord(
            run_id=self.run_id,
            job_id=self.job_id,
            scheduled_time=self.scheduled_time,
            outcome=self.outcome,
            attempt=self.attempt,
            token=self.token,
            claimed_at=self.claimed_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            lease_expires=self.lease_expires,
            error=self.error,
            result=self.result,
            owner=self.owner,
            coalesced=self.coalesced,
            cancel_requested=self.cancel_requested,
            killed=self.killed,
            trigger=self.trigger,
            requested_by=self.requested_by,
        )


class _History:
    """A job's runs, oldest first, keyed by scheduled time (the unique run key), and how
    many of them hold a lease (no outcome yet), and the job's last fencing token. It
    outlives the job row: history stays, and tokens keep increasing."""

    __slots__ = ("held", "runs", "token")

    def __init__(self) -> None:
        self.runs: dict[datetime, _Run] = {}
        self.held = 0
        self.token = 0
