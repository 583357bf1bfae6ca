"""The in-memory store: one process, nothing survives a restart.

It is also the reference implementation of the :class:`~scheduler.stores.Store` protocol:
the other backends do in one transaction or script what this one does under one lock.

Rows are small mutable objects (``__slots__``) updated in place under the lock; the frozen
:class:`~scheduler.stores.StoredJob` and :class:`~scheduler.stores.RunRecord` are built only
when one is handed out. A fire then costs a few dictionary operations and no copies: the
burst of thousands of due jobs is this store's hot path.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from . import (
    Claim,
    ClaimStatus,
    FireKey,
    InstanceInfo,
    JobDefinition,
    Owner,
    Registration,
    RunOutcome,
    RunRecord,
    Store,
    StoredJob,
)
from ._instances import FORGET_AFTER
from ._memory_control import MemoryControl
from ._memory_rows import _Definition, _DefinitionSource, _History, _Job, _Run

__all__ = ["MemoryStore"]

_CLAIMED = ClaimStatus.CLAIMED
_SKIPPED = ClaimStatus.SKIPPED
_TAKEN = ClaimStatus.TAKEN
_SUPERSEDED = ClaimStatus.SUPERSEDED
_LOST = RunOutcome.LOST


class MemoryStore(MemoryControl, Store):
    """Keeps jobs and run history in dictionaries guarded by one lock."""

    durable = False
    shared = False

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._runs: dict[str, _Run] = {}  #: by run id, in insertion order
        self._history: dict[str, _History] = {}  #: by job id
        self._held: dict[str, _Run] = {}  #: runs without an outcome, by run id (for reap)
        self._queued: dict[str, _Run] = {}  #: requested runs not claimed yet, by run id
        # run ids: unique within this store; the random prefix tells stores apart in logs
        self._run_prefix = os.urandom(4).hex() + "-"
        self._run_seq = itertools.count(1)
        self._owner: Owner | None = None
        self._owner_str = ""
        self._lease_seconds = -1.0
        self._lease = timedelta(0)
        self._instances: dict[str, InstanceInfo] = {}  #: by owner label

    def _owner_name(self, owner: Owner) -> str:
        """``str(owner)``, formatted once per owner rather than once per row."""
        if owner is not self._owner:
            self._owner_str = str(owner)
            self._owner = owner
        return self._owner_str

    def _lease_delta(self, lease_seconds: float) -> timedelta:
        if lease_seconds != self._lease_seconds:
            self._lease = timedelta(seconds=lease_seconds)
            self._lease_seconds = lease_seconds
        return self._lease

    def after_fork(self) -> None:
        """The child keeps the parent's rows (nothing to reconnect) with a fresh lock: a
        parent thread may have held the old one at the fork."""
        self._lock = threading.Lock()

    # -- jobs ------------------------------------------------------------------------------
    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        return self._register(definition.id, definition.fingerprint, definition, owner)

    def register_local(
        self,
        job_id: str,
        fingerprint: str,
        source: _DefinitionSource,
        *,
        owner: Owner,
    ) -> Registration:
        """:meth:`register` for a job of this process whose definition is built only if
        someone reads it (:meth:`get_job`, :meth:`load_jobs`), by ``source.get_definition()``:
        the scheduler's registry uses it unless a subclass overrides :meth:`register`.
        ``fingerprint`` is the job's own."""
        return self._register(job_id, fingerprint, source, owner)

    def _register(
        self, job_id: str, fp: str, definition: _Definition, owner: Owner
    ) -> Registration:
        now = self.now()
        peek = self._jobs.get(job_id)  # (a dict read is atomic)
        if peek is not None and peek.fingerprint != fp:
            self._resolve(peek)  # it is replaced: the Registration says what it was
        with self._lock:
            by = self._owner_name(owner)
            old = self._jobs.get(job_id)
            if old is None:
                self._jobs[job_id] = _Job(definition, fp, now, None, by)
                return Registration(anchor=now, last_fire=None)
            if old.fingerprint == fp:
                old.definition = definition
                old.registered_by = by
                old.registered_at = now
                return Registration(anchor=old.anchor, last_fire=old.last_fire)
            replaced = old.frozen()
            old.definition = definition
            old.fingerprint = fp
            old.anchor = old.registered_at = now
            old.registered_by = by
            old.broken = None
            return Registration(anchor=now, last_fire=old.last_fire, replaced=replaced)

    def unregister(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def _resolve(self, row: _Job) -> None:
        """Build the definition of a row of this process's job, if it is not built yet,
        outside the lock: building it reprs the job's arguments, which is user code (a
        ``__repr__`` may even ask this store something)."""
        source = row.definition
        if not isinstance(source, JobDefinition):
            built = source.get_definition()
            with self._lock:
                if row.definition is source:
                    row.definition = built

    def get_job(self, job_id: str) -> StoredJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            return None
        self._resolve(job)
        with self._lock:
            return job.frozen()

    def load_jobs(self, *, dynamic_only: bool = True) -> list[StoredJob]:
        with self._lock:  # rows whose definition is not built are this process's: not dynamic
            rows = [
                j
                for j in self._jobs.values()
                if not dynamic_only
                or (isinstance(j.definition, JobDefinition) and j.definition.dynamic)
            ]
        for row in rows:
            self._resolve(row)
        with self._lock:
            return [row.frozen() for row in rows]

    def mark_broken(self, job_id: str, reason: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.broken = reason

    # -- fires -----------------------------------------------------------------------------
    def _advance(
        self,
        fire: FireKey,
        fingerprint: str,
        covers_from: datetime | None,
        anchor: datetime | None,
    ) -> ClaimStatus | _History:
        """The forward-only compare-and-set; caller holds the lock. Returns the refusal, or
        the job's history when this caller won."""
        job_id = fire.job_id
        when = fire.scheduled_time
        job = self._jobs.get(job_id)
        if job is None or job.fingerprint != fingerprint or job.broken:
            return _SUPERSEDED
        if anchor is not None and job.anchor != anchor:
            return _SUPERSEDED
        if job.last_fire is not None and job.last_fire >= (covers_from or when):
            return _TAKEN
        history = self._history.get(job_id)
        if history is None:
            history = self._history[job_id] = _History()
        elif when in history.runs:
            return _TAKEN
        job.last_fire = when
        return history

    def _insert(self, history: _History, run: _Run) -> None:
        self._runs[run.run_id] = run
        runs = history.runs
        runs[run.scheduled_time] = run
        limit = self.history_limit
        if limit is not None and len(runs) > limit:
            # drop the oldest finished runs; live ones stay whatever the limit says
            excess = len(runs) - limit
            drop: list[_Run] = []
            for old in runs.values():
                if old.outcome is not None:
                    drop.append(old)
                    if len(drop) == excess:
                        break
            for old in drop:
                self._forget(history, old)
        if self.history_max_age is not None:
            cutoff = self.now() - self.history_max_age
            for old in [
                r
                for r in runs.values()
                if r.outcome is not None and (r.finished_at or r.scheduled_time) < cutoff
            ]:
                self._forget(history, old)

    def _forget(self, history: _History, run: _Run) -> None:
        del self._runs[run.run_id]
        # the run key goes too; the job's last_fire still guards the fire
        del history.runs[run.scheduled_time]

    @staticmethod
    def _live_leases(history: _History, now: datetime) -> int:
        return sum(
            1
            for run in history.runs.values()
            if run.outcome is None and run.lease_expires is not None and run.lease_expires > now
        )

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
        now = self.now()
        with self._lock:
            history = self._advance(fire, fingerprint, covers_from, anchor)
            if not isinstance(history, _History):
                return Claim(status=history, fire=fire)
            run_id = f"{self._run_prefix}{next(self._run_seq)}"
            # only runs without an outcome can hold a lease: count the unexpired ones when
            # there are enough of those to reach the limit
            if history.held >= max_instances and (
                self._live_leases(history, now) >= max_instances
            ):
                self._insert(
                    history,
                    _Run(
                        run_id,
                        fire.job_id,
                        fire.scheduled_time,
                        RunOutcome.SKIPPED,
                        0,
                        now,
                        now,
                        None,
                        f"max_instances ({max_instances}) reached",
                        self._owner_name(owner),
                        coalesced,
                    ),
                )
                return Claim(status=_SKIPPED, fire=fire, run_id=run_id)
            token = history.token = history.token + 1
            expires = now + self._lease_delta(lease_seconds)
            run = _Run(
                run_id,
                fire.job_id,
                fire.scheduled_time,
                None,
                token,
                now,
                None,
                expires,
                None,
                self._owner_name(owner),
                coalesced,
            )
            history.held += 1
            self._held[run_id] = run
            self._insert(history, run)
            return Claim(
                status=_CLAIMED, fire=fire, run_id=run_id, token=token, lease_expires=expires
            )

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
        now = self.now()
        with self._lock:
            history = self._advance(fire, fingerprint, covers_from, anchor)
            if not isinstance(history, _History):
                return False
            self._insert(
                history,
                _Run(
                    f"{self._run_prefix}{next(self._run_seq)}",
                    fire.job_id,
                    fire.scheduled_time,
                    RunOutcome.MISSED,
                    0,
                    now,
                    now,
                    None,
                    reason,
                    self._owner_name(owner),
                    coalesced,
                ),
            )
            return True

    def _release(self, run: _Run) -> None:
        """The run got an outcome: its lease is no longer held. Caller holds the lock."""
        del self._held[run.run_id]
        self._history[run.job_id].held -= 1

    def mark_started(self, claim: Claim, *, attempt: int) -> bool:
        now = self.now()
        with self._lock:
            run = self._held.get(claim.run_id or "")
            if run is None or run.token != claim.token:
                return False
            run.attempt = attempt
            if run.started_at is None:
                run.started_at = now
            return True

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        now = self.now()
        held: set[str] = set()
        with self._lock:
            expires = now + self._lease_delta(lease_seconds)
            for claim in claims:
                run = self._held.get(claim.run_id or "")
                if run is None or run.token != claim.token:
                    continue
                run.lease_expires = expires
                held.add(run.run_id)
        return held

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
        now = self.now()
        if outcome.__class__ is not RunOutcome:
            outcome = RunOutcome(outcome)
        with self._lock:
            run = self._held.get(claim.run_id or "")
            if run is None or run.token != claim.token:
                return False
            run.outcome = outcome
            run.attempt = attempt
            run.finished_at = now
            run.lease_expires = None
            run.error = error
            run.result = result
            run.cancel_requested = cancel_requested
            run.killed = killed
            self._release(run)
            return True

    def reap(self) -> list[RunRecord]:
        now = self.now()
        lost: list[_Run] = []
        with self._lock:
            for run in list(self._held.values()):
                if run.lease_expires is not None and run.lease_expires <= now:
                    run.outcome = _LOST
                    run.finished_at = now
                    run.lease_expires = None
                    run.error = (
                        "lease expired (never started)"
                        if run.started_at is None
                        else f"lease expired (owner {run.owner} stopped renewing)"
                    )
                    self._release(run)
                    lost.append(run)
            if len(lost) > 1:  # in the order the runs were first claimed
                skip = len(self._run_prefix)
                lost.sort(key=lambda r: int(r.run_id[skip:]))
            return [run.frozen() for run in lost]

    def retry_lost(self, run_id: str, *, owner: Owner, lease_seconds: float) -> Claim | None:
        now = self.now()
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.outcome is not _LOST:
                return None
            history = self._history[run.job_id]
            token = history.token = history.token + 1
            expires = now + self._lease_delta(lease_seconds)
            run.outcome = None
            run.attempt += 1
            run.token = token
            run.owner = self._owner_name(owner)
            run.lease_expires = expires
            run.started_at = None
            run.finished_at = None
            self._held[run_id] = run
            history.held += 1
            return Claim(
                status=_CLAIMED,
                fire=FireKey(run.job_id, run.scheduled_time),
                run_id=run_id,
                token=token,
                attempt=run.attempt,
                lease_expires=expires,
            )

    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            if job_id is None:
                runs = list(self._runs.values())
            else:
                history = self._history.get(job_id)
                runs = list(history.runs.values()) if history is not None else []
            if not runs:
                return []
            epoch = datetime.min.replace(tzinfo=runs[0].scheduled_time.tzinfo)
            runs.sort(key=lambda r: (r.scheduled_time, r.claimed_at or epoch), reverse=True)
            return [run.frozen() for run in runs[:limit]]

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else run.frozen()

    # -- instances -------------------------------------------------------------------------
    def beat_instance(
        self,
        owner: Owner,
        *,
        version: str,
        started_at: datetime,
        running: Sequence[str],
        lease_seconds: float,
    ) -> None:
        now = self.now()
        label = str(owner)
        with self._lock:
            old = self._instances.get(label)
            self._instances[label] = InstanceInfo(
                instance=label,
                host=owner.host,
                pid=owner.pid,
                version=version,
                started_at=started_at if old is None else old.started_at,
                last_heartbeat=now,
                lease_expires=now + timedelta(seconds=lease_seconds),
                running=tuple(sorted(set(running))),
            )
            forget = now - FORGET_AFTER
            for gone in [k for k, i in self._instances.items() if i.lease_expires < forget]:
                del self._instances[gone]

    def remove_instance(self, instance: str) -> None:
        with self._lock:
            self._instances.pop(instance, None)

    def list_instances(self) -> list[InstanceInfo]:
        now = self.now()
        with self._lock:
            live = [i for i in self._instances.values() if i.lease_expires > now]
        return sorted(live, key=lambda i: (i.started_at, i.instance))
