"""The claim protocol in SQL, shared by the two SQL backends.

:class:`SQLStore` implements every :class:`~scheduler.stores.Store` method as a function of
one cursor inside one transaction; :mod:`~scheduler.stores.sqlite` and
:mod:`~scheduler.stores.postgresql` only supply connections, error mapping and a
:class:`Dialect` (placeholder style, timestamp type, row locking). The tables, migrations and
SQL texts are in :mod:`~scheduler.stores._sql_schema`.

Concurrency, in one place:

* Every write is one short transaction. SQLite serialises writers with ``BEGIN IMMEDIATE``.
  PostgreSQL runs READ COMMITTED: :meth:`SQLStore.claim` starts with an ``UPDATE`` of the
  job row, which holds that row's lock until commit, so claims of one job (and the live
  lease count that decides CLAIMED against SKIPPED) are serialised; a claimer that waited
  re-checks ``last_fire`` on the committed row and gets TAKEN. The count is a statement
  after that ``UPDATE`` (in the run's ``INSERT``): it sees every claim committed meanwhile.
* :meth:`SQLStore.mark_started` and :meth:`SQLStore.finish` are one statement each, run
  without ``BEGIN``/``COMMIT`` (it is atomic) and reading ``Dialect.now``: one round trip.
* :meth:`SQLStore.reap` locks expired runs with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), so
  two reapers never wait on each other nor return the same run.
* The schema is created or migrated under a lock (``BEGIN IMMEDIATE``; PostgreSQL's
  transaction-scoped ``pg_advisory_xact_lock``), so instances starting together are safe.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from .._retry import STORE_CALL_RETRY_DELAYS
from ..exceptions import StoreError, StoreUnavailable
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
from ._sql_control import SQLControl
from ._sql_instances import SQLInstances
from ._sql_rows import SQLRows
from ._sql_schema import (
    _META,
    _SQL,
    MIGRATIONS,
    POSTGRESQL,
    SQLITE,
    Cursor,
    Dialect,
    advisory_key,
    check_prefix,
)

log = logging.getLogger("scheduler.stores")

__all__ = [
    "MIGRATIONS",
    "POSTGRESQL",
    "SQLITE",
    "Cursor",
    "Dialect",
    "SQLStore",
    "advisory_key",
    "check_prefix",
]

T = TypeVar("T")
class _Abort(Exception):
    """Roll the transaction back and return ``value`` from the operation."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class SQLStore(SQLRows, SQLInstances, SQLControl, Store):
    """The protocol in SQL; subclasses supply :meth:`_transaction` and a :class:`Dialect`.

    :param prefix: prepended to every table and index name
    """

    durable = True
    shared = True
    dialect: Dialect = SQLITE

    def __init__(
        self,
        *,
        prefix: str = "scheduler_",
        history_limit: int | None = 1000,
        history_max_age: timedelta | None = None,
    ) -> None:
        super().__init__(history_limit=history_limit, history_max_age=history_max_age)
        self.prefix = check_prefix(prefix)
        self._ready = False
        names = {"p": prefix, "for_update": self.dialect.for_update,
                 "skip_locked": self.dialect.skip_locked, "now": self.dialect.now}  # fmt: skip
        self._sql = {name: self._render(text.format(**names)) for name, text in _SQL.items()}
        self._meta_sql = self._render(_META.format(p=prefix))

    def _render(self, text: str) -> str:
        return text.replace("?", self.dialect.param) if self.dialect.param != "?" else text

    # -- what a backend supplies -----------------------------------------------------------
    @abstractmethod
    def _transaction(self, write: bool) -> AbstractContextManager[Cursor]:
        """A cursor in a transaction committed on exit and rolled back on an exception;
        driver errors that mean 'cannot reach or write the database' become StoreUnavailable.
        """

    def _single(self) -> AbstractContextManager[Cursor]:
        """A cursor for one write statement that commits by itself (autocommit), with the
        same error mapping as :meth:`_transaction`; by default a write transaction."""
        return self._transaction(True)

    def _lock_schema(self, cur: Cursor) -> None:
        """Serialise schema creation between instances (inside the migration transaction)."""

    def _retryable(self, exc: BaseException) -> bool:
        """True for a transient conflict (deadlock, serialisation) worth running again."""
        return False

    def _db_now(self, cur: Cursor) -> datetime:
        """The time leases are measured by; the bound clock unless the server has one."""
        return self.clock.now()

    # -- plumbing --------------------------------------------------------------------------
    def _tx(self, fn: Callable[[Cursor], T], *, write: bool = True, single: bool = False) -> T:
        """``fn(cursor)`` in a transaction, run again on a transient conflict; with
        ``single``, ``fn`` runs one write statement and no transaction is opened around it."""
        if not self._ready:
            self.open()
        for attempt in range(3):
            try:
                with self._single() if single else self._transaction(write) as cur:
                    return fn(cur)
            except _Abort as abort:
                return abort.value  # type: ignore[no-any-return]
            except Exception as exc:
                if not self._retryable(exc):
                    raise
                if attempt == 2:
                    raise StoreError(
                        f"{self!r}: gave up after 3 conflicting attempts: {exc}"
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _migrate(self, cur: Cursor) -> int:
        self._lock_schema(cur)
        cur.execute(self._meta_sql)
        row = cur.execute(self._sql["version"]).fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the {self.prefix!r} tables have schema version {version}, newer than this "
                f"version of scheduler knows ({len(MIGRATIONS)}): upgrade scheduler"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                cur.execute(statement.format(p=self.prefix, ts=self.dialect.timestamp))
        if version < len(MIGRATIONS):
            cur.execute(self._sql["set_version"], (str(len(MIGRATIONS)),))
        return len(MIGRATIONS)

    def open(self) -> None:
        """Create or migrate the schema. Safe to call from several processes at once."""
        self._ready = True  # before _tx, which would otherwise call open() again
        try:
            self._tx(self._migrate)
        except BaseException:
            self._ready = False
            raise

    def schema_version(self) -> int:
        """The schema version recorded in the ``{prefix}meta`` table (0 before any)."""
        row = self._tx(lambda cur: cur.execute(self._sql["version"]).fetchone(), write=False)
        return int(row[0]) if row else 0

    # -- jobs ------------------------------------------------------------------------------
    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        def tx(cur: Cursor) -> Registration:
            return self._register(cur, definition, str(owner), self.dialect.ts(self._db_now(cur)))

        return self._tx(tx)

    def register_many(
        self, definitions: Sequence[JobDefinition], *, owner: Owner
    ) -> list[Registration]:
        """All in one transaction: one commit (one disk sync) instead of one per job."""

        def tx(cur: Cursor) -> list[Registration]:
            now = self.dialect.ts(self._db_now(cur))
            return [self._register(cur, d, str(owner), now) for d in definitions]

        return self._tx(tx) if definitions else []

    def _register(self, cur: Cursor, definition: JobDefinition, by: str, now: Any) -> Registration:
        q, fp = self._sql, definition.fingerprint
        text, dynamic = definition.to_json(), int(definition.dynamic)
        for _ in range(3):  # a row deleted between the two statements: insert again
            cur.execute(
                q["job_insert"],
                (definition.id, text, fp, now, dynamic, by, now, definition.id),
            )
            if cur.rowcount == 1:
                return Registration(anchor=self.dialect.dt(now), last_fire=None)  # type: ignore[arg-type]
            row = cur.execute(q["job_lock"], (definition.id,)).fetchone()
            if row is None:
                continue
            old = self._job(row)
            if old.fingerprint == fp:
                cur.execute(q["job_touch"], (text, dynamic, by, now, definition.id))
                return Registration(anchor=old.anchor, last_fire=old.last_fire)
            cur.execute(q["job_replace"], (text, fp, now, dynamic, by, now, definition.id))
            return Registration(
                anchor=self.dialect.dt(now),  # type: ignore[arg-type]
                last_fire=old.last_fire,
                replaced=old,
            )
        raise StoreError(f"job {definition.id!r} kept vanishing while being registered")

    def unregister(self, job_id: str) -> None:
        self._tx(lambda cur: cur.execute(self._sql["job_delete"], (job_id,)))

    def get_job(self, job_id: str) -> StoredJob | None:
        row = self._tx(lambda c: c.execute(self._sql["job_get"], (job_id,)).fetchone(), write=False)
        return None if row is None else self._job(row)

    def load_jobs(self, *, dynamic_only: bool = True) -> list[StoredJob]:
        sql = self._sql["jobs_dynamic" if dynamic_only else "jobs_all"]
        rows = self._tx(lambda cur: cur.execute(sql).fetchall(), write=False)
        return [self._job(row) for row in rows]

    def mark_broken(self, job_id: str, reason: str) -> None:
        self._tx(lambda cur: cur.execute(self._sql["job_broken"], (reason, job_id)))

    # -- fires -----------------------------------------------------------------------------
    def _advance(
        self,
        cur: Cursor,
        fire: FireKey,
        fp: str,
        covers_from: datetime | None = None,
        anchor: datetime | None = None,
    ) -> tuple[int, int, Any]:
        """The forward-only step: ``(new token, the job's run rows counting the one about to
        be inserted, the store's time as stored)``, or it aborts with the refusal (which
        rolls the step back)."""
        ts = self.dialect.ts
        when = ts(fire.scheduled_time)
        floor = when if covers_from is None else ts(covers_from)
        row = cur.execute(self._sql["advance"], (when, fire.job_id, fp, floor)).fetchone()
        if row is not None:
            if anchor is not None and self.dialect.dt(row[1]) != anchor:
                raise _Abort(ClaimStatus.SUPERSEDED)  # another grid: the caller adopts ours
            return int(row[0]), int(row[2]), row[3]
        job = cur.execute(self._sql["job_check"], (fire.job_id,)).fetchone()
        superseded = job is None or job[0] != fp or job[1] is not None
        raise _Abort(ClaimStatus.SUPERSEDED if superseded else ClaimStatus.TAKEN)

    def _prune(self, cur: Cursor, job_id: str, rows: int, now: datetime) -> None:
        """Keep ``history_limit`` and ``history_max_age`` after a run row was inserted;
        ``rows`` is the job's count of run rows with it."""
        limit, deletes = self.history_limit, []
        if limit is not None and rows > limit:
            if self.dialect.dml_cte:
                cur.execute(self._sql["prune_counted"], (job_id, rows - limit, job_id))
            else:
                deletes.append((self._sql["prune_oldest"], (job_id, rows - limit)))
        if self.history_max_age is not None:
            cutoff = self.dialect.ts(now - self.history_max_age)
            deletes.append((self._sql["prune_age"], (job_id, cutoff)))
        for sql, values in deletes:
            if cur.execute(sql, values).rowcount > 0:
                cur.execute(self._sql["rows_less"], (cur.rowcount, job_id))

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
        dialect = self.dialect
        run_id = uuid.uuid4().hex  # chosen here, so a lost COMMIT reply can be checked
        lease = timedelta(seconds=lease_seconds)
        error = f"max_instances ({max_instances}) reached"
        sql = self._sql["run_claim"]

        def tx(cur: Cursor) -> Claim:
            token, rows, at = self._advance(cur, fire, fingerprint, covers_from, anchor)
            now = dialect.from_db(at)  # read after the job row lock: the count is current
            expires = dialect.to_db(now + lease)
            m, job_id = max_instances, fire.job_id
            values = (run_id, job_id, dialect.to_db(fire.scheduled_time), at, owner.label,
                      coalesced, m, m, token, m, at, m, expires, m, error, job_id, at)  # fmt: skip
            row = cur.execute(sql, values).fetchone()
            if row is None:  # the run key exists (a job re-registered after unregister)
                raise _Abort(ClaimStatus.TAKEN)
            self._prune(cur, fire.job_id, rows, now)
            if row[0] is not None:
                return Claim(status=ClaimStatus.SKIPPED, fire=fire, run_id=run_id)
            return Claim(
                status=ClaimStatus.CLAIMED,
                fire=fire,
                run_id=run_id,
                token=token,
                lease_expires=dialect.from_db(expires),
            )

        try:
            result = self._tx(tx)
        except StoreUnavailable:
            recovered = self._claim_after_lost_reply(fire, run_id)
            if recovered is None:
                raise
            return recovered
        return result if isinstance(result, Claim) else Claim(status=result, fire=fire)

    def _claim_after_lost_reply(self, fire: FireKey, run_id: str) -> Claim | None:
        """The connection broke during the claim: the COMMIT may have landed with its reply
        lost. If our run row exists, the fire is ours (answering TAKEN would leave it to
        nobody); if it does not, the claim did not happen."""
        for delay in STORE_CALL_RETRY_DELAYS:
            time.sleep(delay)
            try:
                run = self.get_run(run_id)
            except StoreUnavailable:
                continue
            if run is None:
                return None
            if run.outcome is RunOutcome.SKIPPED:
                return Claim(status=ClaimStatus.SKIPPED, fire=fire, run_id=run_id)
            log.warning(
                "claim of %s committed but its reply was lost; the fire is this instance's",
                fire.key,
                extra={"job_id": fire.job_id, "run_id": run_id},
            )
            return Claim(
                status=ClaimStatus.CLAIMED,
                fire=fire,
                run_id=run_id,
                token=run.token,
                lease_expires=run.lease_expires,
            )
        return None

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
        ts = self.dialect.ts

        def tx(cur: Cursor) -> bool:
            _, rows, at = self._advance(cur, fire, fingerprint, covers_from, anchor)
            values = (uuid.uuid4().hex, fire.job_id, ts(fire.scheduled_time), "missed", 0,
                      at, at, None, reason, str(owner), coalesced)  # fmt: skip
            cur.execute(self._sql["run_insert"], values)
            if cur.rowcount != 1:  # the run key exists (a job re-registered after unregister)
                raise _Abort(False)
            self._prune(cur, fire.job_id, rows, self.dialect.from_db(at))
            return True

        return self._tx(tx) is True

    def _write1(self, sql: str, values: tuple[Any, ...]) -> int:
        """Run one write statement on its own (:meth:`_single`); the rows it changed."""
        return self._tx(lambda cur: int(cur.execute(sql, values).rowcount), single=True)

    def mark_started(self, claim: Claim, *, attempt: int) -> bool:
        return self._write1(self._sql["started"], (attempt, claim.run_id, claim.token)) == 1

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        if not claims:
            return set()

        def tx(cur: Cursor) -> set[str]:
            expires = self.dialect.ts(self._db_now(cur) + timedelta(seconds=lease_seconds))
            held: set[str] = set()
            for claim in claims:
                cur.execute(self._sql["renew"], (expires, claim.run_id, claim.token))
                if cur.rowcount == 1:
                    held.add(claim.run_id)  # type: ignore[arg-type]
            return held

        return self._tx(tx)

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
        values = (RunOutcome(outcome).value, attempt, error, result, int(cancel_requested),
                  int(killed), claim.run_id, claim.token)  # fmt: skip
        return self._write1(self._sql["finish"], values) == 1

    def reap(self) -> list[RunRecord]:
        def tx(cur: Cursor) -> list[RunRecord]:
            now = self.dialect.ts(self._db_now(cur))
            return [self._run(row) for row in cur.execute(self._sql["reap"], (now, now)).fetchall()]

        return self._tx(tx)

    def retry_lost(self, run_id: str, *, owner: Owner, lease_seconds: float) -> Claim | None:
        def tx(cur: Cursor) -> Claim | None:
            lost = cur.execute(self._sql["lost_job"], (run_id,)).fetchone()
            if lost is None:
                return None
            job_id, old_token = lost
            # the job row lock serialises this with claims (lease counting) and other retries
            row = cur.execute(self._sql["next_token"], (job_id,)).fetchone()
            token = int(row[0]) if row is not None else int(old_token) + 1
            expires = self._db_now(cur) + timedelta(seconds=lease_seconds)
            values = (token, str(owner), self.dialect.ts(expires), run_id)
            done = cur.execute(self._sql["retry"], values).fetchone()
            if done is None:  # another instance re-opened it first
                raise _Abort(None)
            return Claim(
                status=ClaimStatus.CLAIMED,
                fire=FireKey(job_id, self.dialect.dt(done[0])),  # type: ignore[arg-type]
                run_id=run_id,
                token=token,
                attempt=int(done[1]),
                lease_expires=expires,
            )

        return self._tx(tx)

    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        params: tuple[Any, ...]
        if job_id is None:
            sql, params = self._sql["runs_all"], (limit,)
        else:
            sql, params = self._sql["runs_job"], (job_id, limit)
        rows = self._tx(lambda cur: cur.execute(sql, params).fetchall(), write=False)
        return [self._run(row) for row in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._tx(lambda c: c.execute(self._sql["run_get"], (run_id,)).fetchone(), write=False)
        return None if row is None else self._run(row)

