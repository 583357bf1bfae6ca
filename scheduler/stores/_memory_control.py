"""Pause flags and requested runs for :class:`~scheduler.stores.memory.MemoryStore`.

The same steps as the other backends (:mod:`scheduler.stores._control`), each under the
store's one lock. Queued requests are also indexed by run id in ``_queued``, so that the
heartbeat's look at them does not walk the whole history.

Threads and state: a mixin; every access is under ``MemoryStore._lock``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..exceptions import JobNotFound
from . import Claim, ClaimStatus, FireKey, Owner, RunOutcome, RunRecord, StoredJob
from ._control import REMOVED_REASON, not_queued
from ._memory_rows import _History, _Job, _Run

__all__ = ["MemoryControl"]

_ONE_US = timedelta(microseconds=1)


class MemoryControl:
    """Mixed into :class:`~scheduler.stores.memory.MemoryStore` (which owns the state)."""

    if TYPE_CHECKING:
        _lock: threading.Lock
        _jobs: dict[str, _Job]
        _runs: dict[str, _Run]
        _history: dict[str, _History]
        _held: dict[str, _Run]
        _queued: dict[str, _Run]
        _run_prefix: str
        _run_seq: Iterator[int]

        def now(self) -> datetime: ...
        def _owner_name(self, owner: Owner) -> str: ...
        def _lease_delta(self, lease_seconds: float) -> timedelta: ...
        def _insert(self, history: _History, run: _Run) -> None: ...
        @staticmethod
        def _live_leases(history: _History, now: datetime) -> int: ...

    def set_paused(self, job_id: str, paused: bool) -> StoredJob:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            job.paused = bool(paused)
            return job.frozen()

    def paused_ids(self) -> set[str]:
        with self._lock:
            return {job_id for job_id, job in self._jobs.items() if job.paused}

    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        now = self.now()
        with self._lock:
            run = self._request(job_id, requested_by, now)
            self._queued[run.run_id] = run
            return run.run_id

    def claim_manual(
        self, job_id: str, *, owner: Owner, lease_seconds: float, requested_by: str | None
    ) -> Claim:
        now = self.now()
        with self._lock:
            run = self._request(job_id, requested_by, now)
            return self._take(run, owner, lease_seconds, now)

    def _request(self, job_id: str, requested_by: str | None, now: datetime) -> _Run:
        """Insert a requested run (caller holds the lock). :raises JobNotFound:"""
        if job_id not in self._jobs:
            raise JobNotFound(job_id)
        history = self._history.get(job_id)
        if history is None:
            history = self._history[job_id] = _History()
        when = now
        while when in history.runs:  # two requests in one microsecond: the run key
            when += _ONE_US
        run_id = f"{self._run_prefix}{next(self._run_seq)}"
        run = _Run(run_id, job_id, when, None, 0, None, None, None, None, "", 0)
        run.trigger, run.requested_by = "manual", requested_by
        self._insert(history, run)
        return run

    def _take(self, run: _Run, owner: Owner, lease_seconds: float, now: datetime) -> Claim:
        """Lease a requested run to ``owner`` (caller holds the lock)."""
        self._queued.pop(run.run_id, None)
        history = self._history[run.job_id]
        token = history.token = history.token + 1
        expires = now + self._lease_delta(lease_seconds)
        run.token, run.owner, run.claimed_at = token, self._owner_name(owner), now
        run.lease_expires = expires
        history.held += 1
        self._held[run.run_id] = run
        return Claim(
            status=ClaimStatus.CLAIMED,
            fire=FireKey(run.job_id, run.scheduled_time),
            run_id=run.run_id,
            token=token,
            lease_expires=expires,
        )

    def queued_requests(self, job_id: str | None = None) -> int:
        with self._lock:
            if job_id is None:
                return len(self._queued)
            return sum(1 for run in self._queued.values() if run.job_id == job_id)

    def queued_runs(self, limit: int = 100) -> list[RunRecord]:
        with self._lock:
            runs = sorted(self._queued.values(), key=lambda r: r.scheduled_time)[:limit]
            return [run.frozen() for run in runs]

    def claim_request(
        self,
        run_id: str,
        *,
        owner: Owner,
        lease_seconds: float,
        max_instances: int | None,
    ) -> Claim:
        now = self.now()
        with self._lock:
            run = self._queued.get(run_id)
            if run is None:
                held = self._held.get(run_id)
                if held is not None and held.owner == self._owner_name(owner):
                    return _again(held)
                return not_queued()
            fire = FireKey(run.job_id, run.scheduled_time)
            if run.job_id not in self._jobs:
                del self._queued[run_id]
                run.outcome, run.claimed_at, run.finished_at = RunOutcome.SKIPPED, now, now
                run.error, run.owner = REMOVED_REASON, self._owner_name(owner)
                return Claim(status=ClaimStatus.SKIPPED, fire=fire, run_id=run_id)
            history = self._history[run.job_id]
            if max_instances is not None and self._live_leases(history, now) >= max_instances:
                return Claim(status=ClaimStatus.WAITING, fire=fire, run_id=run_id)
            return self._take(run, owner, lease_seconds, now)


def _again(run: _Run) -> Claim:
    """The claim of a request its owner took already (it asks again)."""
    return Claim(
        status=ClaimStatus.CLAIMED,
        fire=FireKey(run.job_id, run.scheduled_time),
        run_id=run.run_id,
        token=run.token,
        attempt=run.attempt,
        lease_expires=run.lease_expires,
    )
