"""The store: the only state shared between processes, behind one small interface.

Backends, one module each: :mod:`~scheduler.stores.memory` (one process),
:mod:`~scheduler.stores.sqlite` (processes on one host), :mod:`~scheduler.stores.postgresql`
and :mod:`~scheduler.stores.redis` (several hosts). :func:`from_url` picks one from a URL.

What a store keeps:

* **jobs**: one row per job id: its definition (import path, trigger, JSON arguments,
  options), a fingerprint of it, the interval *anchor* (first registration), the last
  *claimed* fire time, a fencing counter, and whether it was added at run time (``dynamic``).
* **runs**: one row per fire ``(job id, scheduled time)``: owner, lease expiry, fencing token,
  attempt, outcome (``None`` while claimed or running), timing, error, short result.
* **instances**: one row per started scheduler, refreshed each heartbeat (:mod:`._instances`).

The protocol, in the order the scheduler calls it:

1. :meth:`Store.open` at ``start()`` (schema created and migrated on first use).
2. :meth:`Store.register` for each job: upserts the definition (the last registered
   definition wins), returns the anchor and last fire for catch-up.
3. :meth:`Store.claim` when a fire is about to run: one atomic step that advances the job's
   last claimed fire (forward only; it also checks the fingerprint is current), inserts the
   run row under its unique key, and takes a lease if fewer than ``max_instances`` leases are
   live, else records the fire as skipped. Exactly one caller gets ``CLAIMED`` or ``SKIPPED``
   for a fire; all others get ``TAKEN`` (or ``SUPERSEDED`` if their definition lost).
   :meth:`Store.claim_missed` is the same step for a fire that is already too late.
4. :meth:`Store.mark_started`, :meth:`Store.renew` (heartbeat) and :meth:`Store.finish`:
   all fenced by the run's token, so a run whose lease expired cannot overwrite ``lost``.
5. :meth:`Store.reap`: any instance turns expired leases into ``lost`` runs; exactly one
   reaper gets each; :meth:`Store.retry_lost` re-opens one for its next attempt.
6. Control (:mod:`~scheduler.stores._control`): a paused flag per job, and requested runs
   (run rows with ``trigger="manual"``) that one instance claims.

Store errors: a backend raises :class:`~scheduler.exceptions.StoreUnavailable` when it cannot
reach its server (the scheduler treats that as an outage: nothing runs unclaimed) and lets
programming errors through.
"""

from __future__ import annotations

import enum
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._clock import Clock, SystemClock
from ._control import ControlStore
from ._instances import InstanceInfo, Instances
from ._open import from_url

__all__ = [
    "Claim",
    "ClaimStatus",
    "FireKey",
    "InstanceInfo",
    "JobDefinition",
    "Owner",
    "Registration",
    "RunOutcome",
    "RunRecord",
    "Store",
    "StoredJob",
    "fingerprint",
    "from_url",
]


class RunOutcome(str, enum.Enum):
    """How a fire ended. Every fire gets exactly one of these."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"  #: max_instances was reached
    MISSED = "missed"  #: it could not start within misfire_grace_time
    LOST = "lost"  #: its owner stopped renewing the lease (killed, frozen, cut off)
    UNCERTAIN = "uncertain"  #: the store lost writes (Redis failover) and cannot say

    def __str__(self) -> str:
        return self.value


class ClaimStatus(str, enum.Enum):
    CLAIMED = "claimed"  #: yours to run; a lease is held
    SKIPPED = "skipped"  #: yours, but max_instances leases are live: recorded as skipped
    TAKEN = "taken"  #: another instance has it (or a later fire was claimed already)
    SUPERSEDED = "superseded"  #: the store holds a newer definition of this job than yours
    WAITING = "waiting"  #: a requested run finds max_instances leases live: it stays queued


@dataclass(frozen=True, slots=True)
class FireKey:
    """A fire's identity: what is claimed, leased, recorded and reported."""

    job_id: str
    scheduled_time: datetime  #: aware UTC

    def __post_init__(self) -> None:
        if self.scheduled_time.tzinfo is None:
            raise ValueError("FireKey.scheduled_time must be aware")

    @property
    def key(self) -> str:
        """``job_id@2026-03-29T01:00:00.000000Z``: the unique run key stores index on."""
        return f"{self.job_id}@{self.scheduled_time.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"


@dataclass(frozen=True, slots=True)
class Owner:
    """The instance that claims: host, pid and a random id per Scheduler object."""

    host: str
    pid: int
    instance: str
    #: ``host:pid:instance``, built once: every claim writes it
    label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", f"{self.host}:{self.pid}:{self.instance}")

    @classmethod
    def current(cls) -> Owner:
        return cls(os.uname().nodename, os.getpid(), os.urandom(6).hex())

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDefinition:
    """What the store keeps of a job. Everything is JSON; nothing is pickled."""

    id: str
    name: str
    func_ref: str | None  #: ``module:qualname``; None for a callable that cannot be imported
    trigger: dict[str, Any]  #: ``Trigger.to_dict()``
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    dynamic: bool = False  #: added at run time: persisted and reloaded by every instance
    #: computed on first use and kept (a process-local store may set it to anything unique)
    precomputed_fingerprint: str | None = field(default=None, repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        fp = self.precomputed_fingerprint
        if fp is None:
            fp = fingerprint(self)
            object.__setattr__(self, "precomputed_fingerprint", fp)
        return fp

    def to_json(self) -> str:
        import json  # the memory store never needs it: `import scheduler` stays light

        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "func_ref": self.func_ref,
                "trigger": self.trigger,
                "args": self.args,
                "kwargs": self.kwargs,
                "options": self.options,
                "dynamic": self.dynamic,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> JobDefinition:
        import json

        data = json.loads(text)
        return cls(**data)


def fingerprint(definition: JobDefinition) -> str:
    """A hash of what decides which fires happen and what they do.

    The name and ``dynamic`` flag are left out: renaming a job is not a conflict.
    """
    import hashlib  # here, not at import: `import scheduler` stays cheap
    import json

    payload = json.dumps(
        [
            definition.func_ref,
            definition.trigger,
            definition.args,
            definition.kwargs,
            definition.options,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredJob:
    """A job as the store has it."""

    definition: JobDefinition
    fingerprint: str
    anchor: datetime  #: first registration of this fingerprint (interval triggers count from it)
    last_fire: datetime | None  #: the last claimed fire time (UTC), forward only
    registered_by: str  #: ``str(Owner)`` of the last registration
    registered_at: datetime
    broken: str | None = None  #: why a dynamic job cannot be loaded (import vanished), else None
    paused: bool = False  #: paused for every instance (:meth:`Store.set_paused`)


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """What :meth:`Store.register` tells the scheduler."""

    anchor: datetime
    last_fire: datetime | None
    #: the definition this registration replaced, when it differed (a conflict to log)
    replaced: StoredJob | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    status: ClaimStatus
    fire: FireKey
    run_id: str | None = None  #: set for CLAIMED and SKIPPED
    token: int = 0  #: fencing token, increasing per job; set for CLAIMED
    attempt: int = 1
    lease_expires: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One fire in the run history."""

    run_id: str
    job_id: str
    scheduled_time: datetime
    outcome: RunOutcome | None  #: None while claimed or running
    attempt: int = 1
    token: int = 0
    claimed_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_expires: datetime | None = None
    error: str | None = None
    result: str | None = None
    owner: str = ""  #: ``host:pid:instance``
    coalesced: int = 0  #: earlier overdue fires folded into this one
    #: the run's ``cancel_event`` was set (shutdown, timeout, lost lease) before it returned:
    #: a run that returned early on cancellation is ``succeeded`` with this flag
    cancel_requested: bool = False
    #: the scheduler had to kill the job's worker process (``executor="process"``)
    killed: bool = False
    #: ``"schedule"``, or ``"manual"`` (request_run, run_job, call_job: queued until claimed)
    trigger: str = "schedule"
    requested_by: str | None = None  #: who asked for a manual run, as they said

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def host(self) -> str:
        return self.owner.split(":")[0] if self.owner else ""

    @property
    def pid(self) -> int | None:
        parts = self.owner.split(":")
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None

    @property
    def fire(self) -> FireKey:
        return FireKey(self.job_id, self.scheduled_time)


class Store(Instances, ControlStore, ABC):
    """The interface every backend implements. See the module docstring for the protocol
    (and :class:`~scheduler.stores._control.ControlStore` for pause and requested runs).

    Times passed in and returned are aware UTC datetimes. Methods are called from the
    ticker, pool and heartbeat threads at once: implementations are thread-safe.

    :param history_limit: runs kept per job (oldest finished ones pruned); None keeps all
    :param history_max_age: finished runs older than this are pruned; None keeps all
    """

    #: survives a restart of the process
    durable: bool = False
    #: several processes can share it
    shared: bool = False
    #: it has a clock of its own (a database server's): :meth:`now` reads it, leases are
    #: timed by it, and the scheduler measures this host's skew against it
    server_clock: bool = False

    @property
    def data_losses(self) -> int:
        """How many times this object has seen the store lose its data set (Redis restarted
        without persistence, a failover to an empty replica, a flush); the scheduler then
        registers its jobs again. Backends that cannot tell leave it at 0."""
        return 0

    def __init__(
        self,
        *,
        history_limit: int | None = 1000,
        history_max_age: timedelta | None = None,
    ) -> None:
        if history_limit is not None and history_limit < 1:
            raise ValueError(f"history_limit must be at least 1 or None, got {history_limit!r}")
        self.history_limit = history_limit
        self.history_max_age = history_max_age
        self.clock: Clock = SystemClock()

    # -- lifecycle -------------------------------------------------------------------------
    def bind_clock(self, clock: Clock) -> None:
        """The scheduler hands its clock over; stores without a server clock use it."""
        self.clock = clock

    def open(self) -> None:
        """Connect and create or migrate the schema. :raises StoreUnavailable: unreachable."""

    def close(self) -> None:
        """Release connections. Idempotent."""

    def after_fork(self) -> None:
        """In a forked child: drop inherited connections *without closing them* (closing
        would end the parent's session) so the next call opens fresh ones."""

    def ping(self) -> None:
        """Check that the store answers, as the scheduler needs it to (probed during an
        outage). :raises StoreUnavailable: it does not."""
        self.get_job("__scheduler_ping__")

    def now(self) -> datetime:
        """The store's clock (the database server's where it has one), aware UTC."""
        return self.clock.now()

    # -- jobs ------------------------------------------------------------------------------
    @abstractmethod
    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        """Upsert a job's definition; the last registration wins.

        New job: anchor = now, last_fire None. Same fingerprint: nothing changes but
        ``registered_by``/``registered_at``. Different fingerprint: the definition is replaced,
        the anchor reset to now, ``last_fire`` kept, and the old one returned as ``replaced``.
        """

    def register_many(
        self, definitions: Sequence[JobDefinition], *, owner: Owner
    ) -> list[Registration]:
        """:meth:`register` each definition, in order (a scheduler's jobs at start); a
        backend may do it in fewer round trips."""
        return [self.register(definition, owner=owner) for definition in definitions]

    @abstractmethod
    def unregister(self, job_id: str) -> None:
        """Delete the job's row (its run history stays). Unknown ids are ignored."""

    @abstractmethod
    def get_job(self, job_id: str) -> StoredJob | None:
        """The stored job, or None."""

    @abstractmethod
    def load_jobs(self, *, dynamic_only: bool = True) -> list[StoredJob]:
        """Stored jobs (by default only those added at run time), broken ones included."""

    @abstractmethod
    def mark_broken(self, job_id: str, reason: str) -> None:
        """Flag a stored dynamic job that cannot be loaded; it is kept, not claimed."""

    # -- fires -----------------------------------------------------------------------------
    @abstractmethod
    def claim(
        self,
        fire: FireKey,
        *,
        fingerprint: str,
        owner: Owner,
        max_instances: int,
        lease_seconds: float,
        coalesced: int = 0,
        covers_from: datetime | None = None,
        anchor: datetime | None = None,
    ) -> Claim:
        """Claim a fire (see the module docstring): one atomic step.

        Returns TAKEN when the job's last claimed fire is at or after ``covers_from`` (by
        default ``fire.scheduled_time``) or the run key exists; SUPERSEDED when the stored
        fingerprint differs, the job row is gone, or ``anchor`` is given and differs from
        the stored anchor; SKIPPED (recorded with that outcome) when ``max_instances``
        unexpired leases exist; else CLAIMED with a fresh token and
        ``lease_expires = now + lease_seconds``.

        :param coalesced: the earlier overdue fires folded into this one (kept in the record)
        :param covers_from: the earliest fire the record accounts for (the first of the
            ``coalesced`` fires). A claimed fire at or after it means another instance has
            recorded a fire this one would count again, so the claim is refused: the caller
            counts again from the stored ``last_fire`` (``runs + folded = fires`` holds)
        :param anchor: the interval anchor the caller's fire times count from (None when its
            trigger has no anchor). A different stored anchor (re-registered after the store
            lost its data) refuses the claim, so that every instance fires on one grid
        """

    @abstractmethod
    def claim_missed(
        self,
        fire: FireKey,
        *,
        fingerprint: str,
        owner: Owner,
        reason: str,
        coalesced: int = 0,
        covers_from: datetime | None = None,
        anchor: datetime | None = None,
    ) -> bool:
        """Claim a fire that is too late to run and record it as MISSED with ``reason`` as
        its error text. True if this call recorded it; refused on the same terms as
        :meth:`claim`."""

    @abstractmethod
    def mark_started(self, claim: Claim, *, attempt: int) -> bool:
        """Record that attempt ``attempt`` started now. False when fenced off (lease lost)."""

    @abstractmethod
    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        """Extend the leases of runs still held; return the run ids that were extended.
        A run missing from the result has been reaped (or superseded): its owner must stop."""

    @abstractmethod
    def finish(
        self,
        claim: Claim,
        *,
        outcome: RunOutcome,
        attempt: int,
        error: str | None = None,
        result: str | None = None,
        cancel_requested: bool = False,
        killed: bool = False,
    ) -> bool:
        """Record the outcome and release the lease, if the run is still ours (same token,
        no outcome yet). False when fenced off: a newer outcome is never overwritten.

        :param cancel_requested: the run's ``cancel_event`` was set before it returned
        :param killed: the scheduler killed the run's worker process (``RunRecord.killed``)
        """

    @abstractmethod
    def reap(self) -> list[RunRecord]:
        """Turn runs whose lease expired into LOST (error ``'never started'`` if they had not
        started) and free their slots. Each expired run is returned to exactly one caller."""

    @abstractmethod
    def retry_lost(self, run_id: str, *, owner: Owner, lease_seconds: float) -> Claim | None:
        """Re-open a LOST run for its next attempt under a new lease and token; None if
        someone else did, or it is not LOST."""

    @abstractmethod
    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest runs first (by scheduled time, then claim time)."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

