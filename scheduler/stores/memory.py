"""The in-memory store: one process, nothing survives a restart.

It is also the reference implementation of the :class:`~scheduler.stores.Store` protocol:
the other backends do in one transaction or script what this one does under one lock.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from . import (
    Claim,
    ClaimStatus,
    FireKey,
    JobDefinition,
    Owner,
    Registration,
    RunOutcome,
    RunRecord,
    Store,
    StoredJob,
)

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Keeps jobs and run history in dictionaries guarded by one lock."""

    durable = False
    shared = False

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._jobs: dict[str, StoredJob] = {}
        self._tokens: dict[str, int] = {}
        self._runs: dict[str, RunRecord] = {}
        self._run_keys: dict[tuple[str, datetime], str] = {}
        self._by_job: dict[str, list[str]] = {}

    # -- jobs ------------------------------------------------------------------------------
    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        now = self.now()
        fp = definition.fingerprint
        with self._lock:
            old = self._jobs.get(definition.id)
            if old is not None and old.fingerprint == fp:
                self._jobs[definition.id] = replace(
                    old, definition=definition, registered_by=str(owner), registered_at=now
                )
                return Registration(anchor=old.anchor, last_fire=old.last_fire)
            self._jobs[definition.id] = StoredJob(
                definition=definition,
                fingerprint=fp,
                anchor=now,
                last_fire=old.last_fire if old else None,
                registered_by=str(owner),
                registered_at=now,
            )
            return Registration(anchor=now, last_fire=old.last_fire if old else None, replaced=old)

    def unregister(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def get_job(self, job_id: str) -> StoredJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def load_jobs(self, *, dynamic_only: bool = True) -> list[StoredJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.definition.dynamic or not dynamic_only]

    def mark_broken(self, job_id: str, reason: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, broken=reason)

    # -- fires -----------------------------------------------------------------------------
    def _advance(self, fire: FireKey, fingerprint: str) -> ClaimStatus | None:
        """The forward-only compare-and-set; caller holds the lock. None means 'won'."""
        job = self._jobs.get(fire.job_id)
        if job is None or job.fingerprint != fingerprint or job.broken:
            return ClaimStatus.SUPERSEDED
        if job.last_fire is not None and job.last_fire >= fire.scheduled_time:
            return ClaimStatus.TAKEN
        if (fire.job_id, fire.scheduled_time) in self._run_keys:
            return ClaimStatus.TAKEN
        self._jobs[fire.job_id] = replace(job, last_fire=fire.scheduled_time)
        return None

    def _insert(self, record: RunRecord) -> None:
        self._runs[record.run_id] = record
        self._run_keys[(record.job_id, record.scheduled_time)] = record.run_id
        ids = self._by_job.setdefault(record.job_id, [])
        ids.append(record.run_id)
        self._prune(record.job_id, ids)

    def _prune(self, job_id: str, ids: list[str]) -> None:
        limit = self.history_limit
        if limit is not None and len(ids) > limit:
            # drop the oldest finished runs; live ones stay whatever the limit says
            excess = len(ids) - limit
            keep: list[str] = []
            for run_id in ids:
                run = self._runs[run_id]
                if excess and run.outcome is not None:
                    excess -= 1
                    self._forget(run)
                else:
                    keep.append(run_id)
            ids[:] = keep
        if self.history_max_age is not None:
            cutoff = self.now() - self.history_max_age
            for run_id in list(ids):
                run = self._runs[run_id]
                if run.outcome is not None and (run.finished_at or run.scheduled_time) < cutoff:
                    self._forget(run)
                    ids.remove(run_id)

    def _forget(self, run: RunRecord) -> None:
        del self._runs[run.run_id]
        # the run key is kept out of the index too; the job's last_fire still guards it
        self._run_keys.pop((run.job_id, run.scheduled_time), None)

    def _next_token(self, job_id: str) -> int:
        token = self._tokens.get(job_id, 0) + 1
        self._tokens[job_id] = token
        return token

    def _live_leases(self, job_id: str, now: datetime) -> int:
        return sum(
            1
            for run_id in self._by_job.get(job_id, ())
            if (run := self._runs[run_id]).outcome is None
            and run.lease_expires is not None
            and run.lease_expires > now
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
    ) -> Claim:
        now = self.now()
        with self._lock:
            refused = self._advance(fire, fingerprint)
            if refused is not None:
                return Claim(status=refused, fire=fire)
            run_id = uuid.uuid4().hex
            if self._live_leases(fire.job_id, now) >= max_instances:
                self._insert(
                    RunRecord(
                        run_id=run_id,
                        job_id=fire.job_id,
                        scheduled_time=fire.scheduled_time,
                        outcome=RunOutcome.SKIPPED,
                        claimed_at=now,
                        finished_at=now,
                        error=f"max_instances ({max_instances}) reached",
                        owner=str(owner),
                        coalesced=coalesced,
                    )
                )
                return Claim(status=ClaimStatus.SKIPPED, fire=fire, run_id=run_id)
            token = self._next_token(fire.job_id)
            expires = now + timedelta(seconds=lease_seconds)
            self._insert(
                RunRecord(
                    run_id=run_id,
                    job_id=fire.job_id,
                    scheduled_time=fire.scheduled_time,
                    outcome=None,
                    token=token,
                    claimed_at=now,
                    lease_expires=expires,
                    owner=str(owner),
                    coalesced=coalesced,
                )
            )
            return Claim(
                status=ClaimStatus.CLAIMED,
                fire=fire,
                run_id=run_id,
                token=token,
                lease_expires=expires,
            )

    def claim_missed(
        self, fire: FireKey, *, fingerprint: str, owner: Owner, reason: str, coalesced: int = 0
    ) -> bool:
        now = self.now()
        with self._lock:
            if self._advance(fire, fingerprint) is not None:
                return False
            self._insert(
                RunRecord(
                    run_id=uuid.uuid4().hex,
                    job_id=fire.job_id,
                    scheduled_time=fire.scheduled_time,
                    outcome=RunOutcome.MISSED,
                    claimed_at=now,
                    finished_at=now,
                    error=reason,
                    owner=str(owner),
                    coalesced=coalesced,
                )
            )
            return True

    def _held(self, claim: Claim) -> RunRecord | None:
        run = self._runs.get(claim.run_id or "")
        if run is None or run.outcome is not None or run.token != claim.token:
            return None
        return run

    def mark_started(self, claim: Claim, *, attempt: int) -> bool:
        now = self.now()
        with self._lock:
            run = self._held(claim)
            if run is None:
                return False
            self._runs[run.run_id] = replace(
                run, attempt=attempt, started_at=run.started_at or now
            )
            return True

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        now = self.now()
        held: set[str] = set()
        with self._lock:
            for claim in claims:
                run = self._held(claim)
                if run is None:
                    continue
                self._runs[run.run_id] = replace(
                    run, lease_expires=now + timedelta(seconds=lease_seconds)
                )
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
    ) -> bool:
        now = self.now()
        with self._lock:
            run = self._held(claim)
            if run is None:
                return False
            self._runs[run.run_id] = replace(
                run,
                outcome=RunOutcome(outcome),
                attempt=attempt,
                finished_at=now,
                lease_expires=None,
                error=error,
                result=result,
            )
            return True

    def reap(self) -> list[RunRecord]:
        now = self.now()
        lost: list[RunRecord] = []
        with self._lock:
            for run in list(self._runs.values()):
                if run.outcome is None and run.lease_expires and run.lease_expires <= now:
                    done = replace(
                        run,
                        outcome=RunOutcome.LOST,
                        finished_at=now,
                        lease_expires=None,
                        error=(
                            "lease expired (never started)"
                            if run.started_at is None
                            else f"lease expired (owner {run.owner} stopped renewing)"
                        ),
                    )
                    self._runs[run.run_id] = done
                    lost.append(done)
        return lost

    def retry_lost(self, run_id: str, *, owner: Owner, lease_seconds: float) -> Claim | None:
        now = self.now()
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.outcome is not RunOutcome.LOST:
                return None
            token = self._next_token(run.job_id)
            expires = now + timedelta(seconds=lease_seconds)
            self._runs[run_id] = replace(
                run,
                outcome=None,
                attempt=run.attempt + 1,
                token=token,
                owner=str(owner),
                lease_expires=expires,
                started_at=None,
                finished_at=None,
            )
            return Claim(
                status=ClaimStatus.CLAIMED,
                fire=run.fire,
                run_id=run_id,
                token=token,
                attempt=run.attempt + 1,
                lease_expires=expires,
            )

    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            if job_id is None:
                runs = list(self._runs.values())
            else:
                runs = [self._runs[r] for r in self._by_job.get(job_id, ())]
        epoch = datetime.min.replace(tzinfo=runs[0].scheduled_time.tzinfo) if runs else None
        runs.sort(key=lambda r: (r.scheduled_time, r.claimed_at or epoch), reverse=True)
        return runs[:limit]

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)
