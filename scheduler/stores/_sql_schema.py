"""The SQL stores' schema and SQL texts: tables, migrations, and every statement the
protocol (:mod:`scheduler.stores._sql`) runs, written once with ``?`` placeholders and a
``{p}`` table prefix, rendered per :class:`Dialect`.

Tables (``{prefix}`` defaults to ``scheduler_``):

* ``{prefix}jobs``: one row per job id; ``last_fire`` only moves forward and ``token`` is the
  per-job fencing counter (it grows on every claim, so tokens can have gaps). ``run_rows``
  counts the job's rows in ``{prefix}runs``, so that keeping ``history_limit`` needs no
  ``COUNT(*)`` per claim: every statement that inserts or deletes runs keeps it (the claim
  step adds one, pruning subtracts what it deleted).
* ``{prefix}runs``: one row per fire, unique on ``(job_id, scheduled_time)``; ``outcome`` is
  NULL while the run is claimed or running.
* ``{prefix}instances``: one row per started scheduler (:mod:`~scheduler.stores._instances`).
* ``{prefix}meta``: ``schema_version``.

Instants are integer microseconds since the epoch on SQLite (:mod:`scheduler._time`: they
sort and compare as numbers) and ``timestamptz`` on PostgreSQL.

Threads and state: constants and pure functions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from .._time import from_us, to_us
from ..exceptions import ConfigurationError

__all__ = [
    "MIGRATIONS",
    "POSTGRESQL",
    "SQLITE",
    "Cursor",
    "Dialect",
    "advisory_key",
    "check_prefix",
]

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a table name, else raise.

    :raises ConfigurationError: not letters, digits and underscores, or longer than 40
    """
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigurationError(
            f"invalid table prefix {prefix!r}: use 1-40 letters, digits or underscores, "
            f"not starting with a digit (e.g. 'scheduler_')"
        )
    return prefix


class Cursor(Protocol):
    """The part of a DB-API cursor the shared code uses (sqlite3 and psycopg both fit)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def _tz_from_db(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def _identity(value: datetime) -> datetime:
    return value


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL backends."""

    name: str
    timestamp: str  #: column type of instants
    param: str  #: the driver's placeholder; texts are written with ``?``
    for_update: str  #: row lock suffix for a SELECT inside a write transaction
    skip_locked: str  #: the same, skipping rows another transaction holds
    to_db: Callable[[datetime], Any]
    from_db: Callable[[Any], datetime]
    #: the store's clock as an SQL expression, read where the statement runs (the server's
    #: clock on PostgreSQL; on SQLite a function each connection defines from the bound clock)
    now: str
    #: a data-modifying statement can be a CTE (PostgreSQL), so pruning is one statement
    dml_cte: bool

    def ts(self, value: datetime | None) -> Any:
        return None if value is None else self.to_db(value)

    def dt(self, value: Any) -> datetime | None:
        return None if value is None else self.from_db(value)


#: instants as integer microseconds since the epoch, UTC: they sort and compare as numbers
SQLITE = Dialect("sqlite", "BIGINT", "?", "", "", to_us, from_us, "scheduler_now()", False)
POSTGRESQL = Dialect(
    "postgresql", "TIMESTAMPTZ", "%s", " FOR UPDATE", " FOR UPDATE SKIP LOCKED",
    _identity, _tz_from_db, "clock_timestamp()", True,
)  # fmt: skip
#: the name of the SQLite function behind ``SQLITE.now`` (microseconds, from the bound clock)
SQLITE_NOW = "scheduler_now"

#: schema steps, applied in order; the version is the number of steps applied. Append only.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE IF NOT EXISTS {p}jobs (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            anchor {ts} NOT NULL,
            last_fire {ts},
            token BIGINT NOT NULL DEFAULT 0,
            dynamic INTEGER NOT NULL DEFAULT 0,
            registered_by TEXT NOT NULL,
            registered_at {ts} NOT NULL,
            broken TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS {p}runs (
            run_id TEXT PRIMARY KEY,
            job_id TEXT NOT NULL,
            scheduled_time {ts} NOT NULL,
            outcome TEXT,
            attempt INTEGER NOT NULL DEFAULT 1,
            token BIGINT NOT NULL DEFAULT 0,
            claimed_at {ts},
            started_at {ts},
            finished_at {ts},
            lease_expires {ts},
            error TEXT,
            result TEXT,
            owner TEXT NOT NULL DEFAULT '',
            coalesced INTEGER NOT NULL DEFAULT 0,
            UNIQUE (job_id, scheduled_time)
        )""",
        "CREATE INDEX IF NOT EXISTS {p}runs_job_outcome ON {p}runs (job_id, outcome)",
        "CREATE INDEX IF NOT EXISTS {p}runs_lease ON {p}runs (lease_expires) WHERE outcome IS NULL",
    ),
    # 2: whether a run's cancel_event was set before it returned (#9)
    ("ALTER TABLE {p}runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",),
    # 3: the scheduler killed the run's worker process (#17)
    ("ALTER TABLE {p}runs ADD COLUMN killed INTEGER NOT NULL DEFAULT 0",),
    # 4: a pause every instance obeys; runs asked for by hand, queued until claimed (#12)
    (
        "ALTER TABLE {p}jobs ADD COLUMN paused INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE {p}runs ADD COLUMN run_trigger TEXT NOT NULL DEFAULT 'schedule'",
        "ALTER TABLE {p}runs ADD COLUMN requested_by TEXT",
        "CREATE INDEX IF NOT EXISTS {p}jobs_paused ON {p}jobs (id) WHERE paused = 1",
        "CREATE INDEX IF NOT EXISTS {p}runs_queued ON {p}runs (scheduled_time) "
        "WHERE outcome IS NULL AND claimed_at IS NULL",
    ),
    # 5: live scheduler instances, one row each, refreshed every heartbeat (#12)
    (
        """CREATE TABLE IF NOT EXISTS {p}instances (
            instance TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            started_at {ts} NOT NULL,
            last_heartbeat {ts} NOT NULL,
            lease_expires {ts} NOT NULL,
            running TEXT NOT NULL DEFAULT '[]'
        )""",
    ),
    # 6 (#15): each job's count of run rows, so a claim keeps history_limit without a
    # COUNT(*); and the claim's count of live leases reads a partial index of the runs
    # holding one, which finished runs leave (pruning them no longer writes to it). Dropped
    # first, so the new index takes the page the old one frees (no free page left behind)
    (
        "ALTER TABLE {p}jobs ADD COLUMN run_rows BIGINT NOT NULL DEFAULT 0",
        "UPDATE {p}jobs SET run_rows = (SELECT COUNT(*) FROM {p}runs WHERE job_id = {p}jobs.id)",
        "DROP INDEX IF EXISTS {p}runs_job_outcome",
        "CREATE INDEX IF NOT EXISTS {p}runs_live ON {p}runs (job_id, lease_expires) "
        "WHERE outcome IS NULL",
    ),
]

_META = "CREATE TABLE IF NOT EXISTS {p}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_JOB_COLS = (
    "definition, fingerprint, anchor, last_fire, registered_by, registered_at, broken, paused"
)
_RUN_COLS = (
    "run_id, job_id, scheduled_time, outcome, attempt, token, claimed_at, started_at, "
    "finished_at, lease_expires, error, result, owner, coalesced, cancel_requested"
)
#: what is read back: the inserted columns, then those later migrations added
_RUN_READ = _RUN_COLS + ", killed, run_trigger, requested_by"
_SQL = {
    "version": "SELECT value FROM {p}meta WHERE key = 'schema_version'",
    "set_version": "INSERT INTO {p}meta (key, value) VALUES ('schema_version', ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    # a new job starts its token after its old runs' tokens and counts their rows (unregister
    # keeps history); the aggregate gives one row even when there are none
    "job_insert": "INSERT INTO {p}jobs (id, definition, fingerprint, anchor, last_fire, token, "
    "run_rows, dynamic, registered_by, registered_at) SELECT ?, ?, ?, ?, NULL, "
    "COALESCE(MAX(token), 0), COUNT(*), ?, ?, ? FROM {p}runs WHERE job_id = ? "
    "ON CONFLICT (id) DO NOTHING",
    "job_lock": f"SELECT {_JOB_COLS} FROM {{p}}jobs WHERE id = ?{{for_update}}",
    "job_touch": "UPDATE {p}jobs SET definition = ?, dynamic = ?, registered_by = ?, "
    "registered_at = ? WHERE id = ?",
    "job_replace": "UPDATE {p}jobs SET definition = ?, fingerprint = ?, anchor = ?, dynamic = ?, "
    "registered_by = ?, registered_at = ?, broken = NULL WHERE id = ?",
    "job_delete": "DELETE FROM {p}jobs WHERE id = ?",
    "job_get": f"SELECT {_JOB_COLS} FROM {{p}}jobs WHERE id = ?",
    "jobs_all": f"SELECT {_JOB_COLS} FROM {{p}}jobs ORDER BY id",
    "jobs_dynamic": f"SELECT {_JOB_COLS} FROM {{p}}jobs WHERE dynamic = 1 ORDER BY id",
    "job_broken": "UPDATE {p}jobs SET broken = ? WHERE id = ?",
    "job_check": "SELECT fingerprint, broken FROM {p}jobs WHERE id = ?",
    # the forward-only compare-and-set; on PostgreSQL it also locks the job row until commit.
    # It counts the run row the step is about to insert (a refusal rolls the count back) and
    # reads the clock once the row is locked, for everything the claim records
    "advance": "UPDATE {p}jobs SET last_fire = ?, token = token + 1, run_rows = run_rows + 1 "
    "WHERE id = ? AND fingerprint = ? AND broken IS NULL AND (last_fire IS NULL OR "
    "last_fire < ?) RETURNING token, anchor, run_rows, {now}",
    # the claimed (or, at max_instances unexpired leases, skipped) run in one statement. The
    # count is a statement of its own after "advance": under READ COMMITTED it sees every
    # claim committed while this one waited for the job row (a CTE would not). Parameters:
    # the four that are the same either way, the skip test, then the claimed run's token and
    # lease expiry and the skipped run's error
    "run_claim": "INSERT INTO {p}runs (run_id, job_id, scheduled_time, claimed_at, owner, "
    "coalesced, outcome, token, finished_at, lease_expires, error) "
    "SELECT ?, ?, ?, ?, ?, ?, CASE WHEN live.n >= ? THEN 'skipped' END, "
    "CASE WHEN live.n >= ? THEN 0 ELSE ? END, CASE WHEN live.n >= ? THEN ? END, "
    "CASE WHEN live.n >= ? THEN NULL ELSE ? END, CASE WHEN live.n >= ? THEN ? END "
    "FROM (SELECT COUNT(*) AS n FROM {p}runs WHERE job_id = ? AND outcome IS NULL "
    "AND lease_expires > ?) AS live WHERE true "
    "ON CONFLICT (job_id, scheduled_time) DO NOTHING RETURNING outcome",
    "run_insert": f"INSERT INTO {{p}}runs ({_RUN_COLS}) VALUES "
    "(?, ?, ?, ?, 1, ?, ?, NULL, ?, ?, ?, NULL, ?, ?, 0) "
    "ON CONFLICT (job_id, scheduled_time) DO NOTHING",
    "prune_oldest": "DELETE FROM {p}runs WHERE run_id IN (SELECT run_id FROM {p}runs "
    "WHERE job_id = ? AND outcome IS NOT NULL ORDER BY scheduled_time, claimed_at LIMIT ?)",
    "prune_age": "DELETE FROM {p}runs WHERE job_id = ? AND outcome IS NOT NULL "
    "AND COALESCE(finished_at, scheduled_time) < ?",
    "rows_less": "UPDATE {p}jobs SET run_rows = run_rows - ? WHERE id = ?",
    "rows_more": "UPDATE {p}jobs SET run_rows = run_rows + 1 WHERE id = ?",
    # PostgreSQL: prune and count in one statement (the CTE's DELETE is seen by the UPDATE
    # through what it returns); parameters as prune_oldest's, then the job id
    "prune_counted": "WITH gone AS (DELETE FROM {p}runs WHERE run_id IN (SELECT run_id "
    "FROM {p}runs WHERE job_id = ? AND outcome IS NOT NULL ORDER BY scheduled_time, "
    "claimed_at LIMIT ?) RETURNING 1) UPDATE {p}jobs SET run_rows = run_rows - "
    "(SELECT COUNT(*) FROM gone) WHERE id = ?",
    # one statement each, committed on its own: the store's clock is read in the statement
    "started": "UPDATE {p}runs SET attempt = ?, started_at = COALESCE(started_at, {now}) "
    "WHERE run_id = ? AND token = ? AND outcome IS NULL",
    "renew": "UPDATE {p}runs SET lease_expires = ? "
    "WHERE run_id = ? AND token = ? AND outcome IS NULL",
    "finish": "UPDATE {p}runs SET outcome = ?, attempt = ?, finished_at = {now}, "
    "lease_expires = NULL, error = ?, result = ?, cancel_requested = ?, killed = ? "
    "WHERE run_id = ? AND token = ? AND outcome IS NULL",
    "reap": "UPDATE {p}runs SET outcome = 'lost', finished_at = ?, lease_expires = NULL, "
    "error = CASE WHEN started_at IS NULL THEN 'lease expired (never started)' "
    "ELSE 'lease expired (owner ' || owner || ' stopped renewing)' END "
    "WHERE run_id IN (SELECT run_id FROM {p}runs WHERE outcome IS NULL "
    "AND lease_expires <= ?{skip_locked}) AND outcome IS NULL "
    f"RETURNING {_RUN_READ}",
    "lost_job": "SELECT job_id, token FROM {p}runs WHERE run_id = ? AND outcome = 'lost'",
    "next_token": "UPDATE {p}jobs SET token = token + 1 WHERE id = ? RETURNING token",
    "retry": "UPDATE {p}runs SET outcome = NULL, attempt = attempt + 1, token = ?, owner = ?, "
    "lease_expires = ?, started_at = NULL, finished_at = NULL "
    "WHERE run_id = ? AND outcome = 'lost' RETURNING scheduled_time, attempt",
    "run_get": f"SELECT {_RUN_READ} FROM {{p}}runs WHERE run_id = ?",
    "runs_all": f"SELECT {_RUN_READ} FROM {{p}}runs "
    "ORDER BY scheduled_time DESC, claimed_at DESC LIMIT ?",
    "runs_job": f"SELECT {_RUN_READ} FROM {{p}}runs WHERE job_id = ? "
    "ORDER BY scheduled_time DESC, claimed_at DESC LIMIT ?",
    # -- control (#12): pause flags and requested runs (scheduler.stores._control)
    "set_paused": f"UPDATE {{p}}jobs SET paused = ? WHERE id = ? RETURNING {_JOB_COLS}",
    "paused_ids": "SELECT id FROM {p}jobs WHERE paused = 1",
    "request": "INSERT INTO {p}runs (run_id, job_id, scheduled_time, owner, run_trigger, "
    "requested_by) VALUES (?, ?, ?, '', 'manual', ?) ON CONFLICT (job_id, scheduled_time) "
    "DO NOTHING",
    "queued_all": "SELECT COUNT(*) FROM {p}runs WHERE outcome IS NULL AND claimed_at IS NULL",
    "queued_job": "SELECT COUNT(*) FROM {p}runs WHERE outcome IS NULL AND claimed_at IS NULL "
    "AND job_id = ?",
    "queued_runs": f"SELECT {_RUN_READ} FROM {{p}}runs WHERE outcome IS NULL "
    "AND claimed_at IS NULL ORDER BY scheduled_time LIMIT ?",
    "queued_one": "SELECT job_id, scheduled_time FROM {p}runs WHERE run_id = ? "
    "AND outcome IS NULL AND claimed_at IS NULL",
    "request_skip": "UPDATE {p}runs SET outcome = 'skipped', claimed_at = ?, finished_at = ?, "
    "error = ?, owner = ? WHERE run_id = ? AND outcome IS NULL AND claimed_at IS NULL",
    # the live leases of a job, for a requested run's max_instances (its job row is locked)
    "live_leases": "SELECT COUNT(*) FROM {p}runs WHERE job_id = ? AND outcome IS NULL "
    "AND lease_expires > ?",
    "request_claim": "UPDATE {p}runs SET token = ?, owner = ?, claimed_at = ?, lease_expires = ? "
    "WHERE run_id = ? AND outcome IS NULL AND claimed_at IS NULL",
}


def advisory_key(prefix: str) -> int:
    """A signed 64-bit lock key derived from the prefix (PostgreSQL advisory locks)."""
    digest = hashlib.sha256(f"scheduler:{prefix}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
