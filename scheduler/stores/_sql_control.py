"""Pause flags and requested runs in SQL, shared by the SQLite and PostgreSQL stores.

The steps of :mod:`scheduler.stores._control`, each one short transaction. Claiming a request
locks the job row first (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), as a
claim of a fire does, so that the count of live leases that decides CLAIMED against WAITING
is current; the update of the run row is conditional on the request still being queued, so
of two instances taking the same request, one gets it and the other TAKEN.

Threads and state: a mixin of :class:`~scheduler.stores._sql.SQLStore`; no state of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .._retry import STORE_CALL_RETRY_DELAYS
from ..exceptions import JobNotFound, StoreUnavailable
from . import Claim, ClaimStatus, FireKey, Owner, RunRecord, StoredJob
from ._control import REMOVED_REASON, not_queued
from ._sql_schema import Cursor, Dialect

__all__ = ["SQLControl"]

T = TypeVar("T")

_ONE_US = timedelta(microseconds=1)
#: a request landing on a taken run key moves a microsecond later, at most this often
_REQUEST_TRIES = 16


class SQLControl:
    """Mixed into :class:`~scheduler.stores._sql.SQLStore` (which supplies the plumbing)."""

    if TYPE_CHECKING:
        dialect: Dialect
        _sql: dict[str, str]

        def _tx(self, fn: Callable[[Cursor], T], *, write: bool = True) -> T: ...
        def _db_now(self, cur: Cursor) -> datetime: ...
        def _job(self, row: Sequence[Any]) -> StoredJob: ...
        def _run(self, row: Sequence[Any]) -> RunRecord: ...

    def set_paused(self, job_id: str, paused: bool) -> StoredJob:
        def tx(cur: Cursor) -> StoredJob:
            row = cur.execute(self._sql["set_paused"], (int(bool(paused)), job_id)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            return self._job(row)

        return self._tx(tx)

    def paused_ids(self) -> set[str]:
        rows = self._tx(lambda cur: cur.execute(self._sql["paused_ids"]).fetchall(), write=False)
        return {row[0] for row in rows}

    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        run_id = uuid.uuid4().hex
        self._tx(lambda cur: self._request(cur, run_id, job_id, requested_by))
        return run_id

    def claim_manual(
        self, job_id: str, *, owner: Owner, lease_seconds: float, requested_by: str | None
    ) -> Claim:
        run_id = uuid.uuid4().hex

        def tx(cur: Cursor) -> Claim:
            fire = self._request(cur, run_id, job_id, requested_by)
            return self._take(cur, fire, run_id, owner, lease_seconds, self._db_now(cur))

        return self._tx(tx)

    def _request(self, cur: Cursor, run_id: str, job_id: str, requested_by: str | None) -> FireKey:
        """Insert a requested run; its fire. :raises JobNotFound:"""
        if cur.execute(self._sql["job_lock"], (job_id,)).fetchone() is None:
            raise JobNotFound(job_id)
        when = self._db_now(cur)
        for _ in range(_REQUEST_TRIES):
            cur.execute(self._sql["request"], (run_id, job_id, self.dialect.ts(when), requested_by))
            if cur.rowcount == 1:
                cur.execute(self._sql["rows_more"], (job_id,))  # history_limit's count (#15)
                return FireKey(job_id, when)
            when += _ONE_US  # the run key of another run: the next microsecond
        raise RuntimeError(f"no free run key for a request of {job_id!r}")  # pragma: no cover

    def _take(
        self, cur: Cursor, fire: FireKey, run_id: str, owner: Owner, lease: float, now: datetime
    ) -> Claim:
        """Lease a queued run to ``owner`` (the job row is locked); TAKEN if it is no longer
        queued."""
        ts = self.dialect.ts
        (token,) = cur.execute(self._sql["next_token"], (fire.job_id,)).fetchone()
        expires = now + timedelta(seconds=lease)
        cur.execute(self._sql["request_claim"], (token, str(owner), ts(now), ts(expires), run_id))
        if cur.rowcount != 1:  # taken between the two statements (the token gap is fine)
            return Claim(status=ClaimStatus.TAKEN, fire=fire, run_id=run_id)
        return Claim(
            status=ClaimStatus.CLAIMED,
            fire=fire,
            run_id=run_id,
            token=int(token),
            lease_expires=expires,
        )

    def queued_requests(self, job_id: str | None = None) -> int:
        params: tuple[str, ...] = ()
        if job_id is None:
            sql = self._sql["queued_all"]
        else:
            sql, params = self._sql["queued_job"], (job_id,)
        (count,) = self._tx(lambda cur: cur.execute(sql, params).fetchone(), write=False)
        return int(count)

    def queued_runs(self, limit: int = 100) -> list[RunRecord]:
        sql = self._sql["queued_runs"]
        rows = self._tx(lambda cur: cur.execute(sql, (limit,)).fetchall(), write=False)
        return [self._run(row) for row in rows]

    def claim_request(
        self,
        run_id: str,
        *,
        owner: Owner,
        lease_seconds: float,
        max_instances: int | None,
    ) -> Claim:
        q, ts = self._sql, self.dialect.ts

        def tx(cur: Cursor) -> Claim:
            queued = cur.execute(q["queued_one"], (run_id,)).fetchone()
            if queued is None:
                return self._again(cur, run_id, owner) or not_queued()
            job_id = queued[0]
            fire = FireKey(job_id, self.dialect.dt(queued[1]))  # type: ignore[arg-type]
            locked = cur.execute(q["job_lock"], (job_id,)).fetchone()  # serialises the count
            now = self._db_now(cur)
            if locked is None:
                values = (ts(now), ts(now), REMOVED_REASON, str(owner), run_id)
                cur.execute(q["request_skip"], values)
                status = ClaimStatus.SKIPPED if cur.rowcount == 1 else ClaimStatus.TAKEN
                return Claim(status=status, fire=fire, run_id=run_id)
            if max_instances is not None:
                (live,) = cur.execute(q["live_leases"], (job_id, ts(now))).fetchone()
                if live >= max_instances:
                    return Claim(status=ClaimStatus.WAITING, fire=fire, run_id=run_id)
            return self._take(cur, fire, run_id, owner, lease_seconds, now)

        try:
            return self._tx(tx)
        except StoreUnavailable:
            recovered = self._taken_after_lost_reply(run_id, owner)
            if recovered is None:
                raise
            return recovered

    def _again(self, cur: Cursor, run_id: str, owner: Owner) -> Claim | None:
        """The claim of a request ``owner`` took already and has not finished, or None."""
        row = cur.execute(self._sql["run_get"], (run_id,)).fetchone()
        if row is None:
            return None
        run = self._run(row)
        if run.owner != str(owner) or run.outcome is not None or run.claimed_at is None:
            return None
        return Claim(
            status=ClaimStatus.CLAIMED,
            fire=run.fire,
            run_id=run_id,
            token=run.token,
            attempt=run.attempt,
            lease_expires=run.lease_expires,
        )

    def _taken_after_lost_reply(self, run_id: str, owner: Owner) -> Claim | None:
        """The connection broke while taking a request: the COMMIT may have landed with its
        reply lost. If the run is ours and open, it is ours to run (else nobody would)."""
        for delay in STORE_CALL_RETRY_DELAYS:
            time.sleep(delay)
            try:
                return self._tx(lambda cur: self._again(cur, run_id, owner), write=False)
            except StoreUnavailable:
                continue
        return None
