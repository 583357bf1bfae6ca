"""The PostgreSQL store: processes on several hosts share one database.

Usage::

    from scheduler.stores.postgresql import PostgreSQLStore

    store = PostgreSQLStore("postgresql://app@db.internal/app", prefix="scheduler_")

Needs psycopg 3 (``pip install "threadcron[postgres]"``). Every operation is one short
transaction (READ COMMITTED) on a connection from a small pool of its own; a claim holds the
job row's lock until it commits (see :mod:`scheduler.stores._sql`), never a session lock,
so a process dying mid-claim leaves nothing behind but a rolled-back transaction.

Time: leases and :meth:`PostgreSQLStore.now` use the database server's clock
(``server_clock``), so hosts with skewed clocks still agree on when a lease expired; the
scheduler measures this host's skew against it and warns once (:mod:`scheduler._storetime`).

Failures: connection errors, timeouts (``connect_timeout``, ``statement_timeout``), a server
shutting down or a read-only standby raise :class:`~scheduler.exceptions.StoreUnavailable`;
broken connections are discarded, so the next call reconnects. After ``fork()`` the child
forgets its parent's connections without closing them (closing would end the parent's
sessions) and opens its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from ..exceptions import ConfigurationError, StoreDataError, StoreUnavailable
from ._sql import POSTGRESQL, Cursor, SQLStore, advisory_key
from ._url import mask_in, mask_url

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'the PostgreSQL store needs psycopg 3: pip install "threadcron[postgres]"'
    ) from exc

__all__ = ["PostgreSQLStore"]

logger = logging.getLogger("scheduler.stores.postgresql")


#: errors about the data itself (a value too long for an index, a NUL byte, a constraint,
#: a statement the server refuses): the server answered, so they are never an outage
_DATA_ERRORS = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.ProgrammingError,
    psycopg.NotSupportedError,
    pg_errors.ProgramLimitExceeded,  # an OperationalError subclass: checked first
)

#: libpq parameters whose values libpq only checks when it connects; checked at construction
_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby",
    ),
}  # fmt: skip


def _check_params(info: dict[str, Any], shown: str) -> None:
    """:raises ConfigurationError: a port, timeout or enumerated value libpq would refuse"""
    for port in str(info.get("port") or "").split(","):
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigurationError(
                f"invalid PostgreSQL URL {shown!r}: port {port!r} is not a number in 1-65535"
            )
    timeout = str(info.get("connect_timeout") or "")
    if timeout and not (timeout.isascii() and timeout.lstrip("-").isdigit()):
        raise ConfigurationError(
            f"invalid PostgreSQL URL {shown!r}: connect_timeout {timeout!r} is not a number"
        )
    for name, choices in _CHOICES.items():
        value = info.get(name)
        if value is not None and value not in choices:
            raise ConfigurationError(
                f"invalid PostgreSQL URL {shown!r}: {name} {value!r} is not one of "
                f"{', '.join(choices)}"
            )


def _unavailable_error(exc: BaseException) -> bool:
    if isinstance(exc, (pg_errors.TransactionRollback, *_DATA_ERRORS)):
        return False  # a conflict (retried by SQLStore._tx) or the data: not an outage
    return isinstance(
        exc, (psycopg.OperationalError, psycopg.InterfaceError, pg_errors.ReadOnlySqlTransaction)
    )


class PostgreSQLStore(SQLStore):
    """A store in a PostgreSQL database, shared by processes on any number of hosts.

    :param url: ``postgresql://user:password@host:5432/dbname`` (any libpq conninfo)
    :param prefix: prepended to table and index names (letters, digits, underscores)
    :param connect_timeout: seconds to wait for a connection
    :param statement_timeout: seconds a statement (or a wait for a row lock) may take; 0 for
        no limit
    :param history_limit: runs kept per job; None keeps all
    :param history_max_age: finished runs older than this are pruned; None keeps all
    :param pool_size: connections kept open at most
    :raises ConfigurationError: a bad prefix, timeout or URL
    """

    durable = True
    shared = True
    server_clock = True
    dialect = POSTGRESQL

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "scheduler_",
        connect_timeout: float = 5.0,
        statement_timeout: float = 5.0,
        history_limit: int | None = 1000,
        history_max_age: timedelta | None = None,
        pool_size: int = 5,
    ) -> None:
        super().__init__(
            prefix=prefix, history_limit=history_limit, history_max_age=history_max_age
        )
        if connect_timeout <= 0 or statement_timeout < 0 or pool_size < 1:
            raise ConfigurationError(
                f"need connect_timeout > 0, statement_timeout >= 0 and pool_size >= 1; got "
                f"{connect_timeout!r}, {statement_timeout!r}, {pool_size!r}"
            )
        if not isinstance(url, str):
            raise ConfigurationError(
                f"the PostgreSQL URL must be a string, got {type(url).__name__}"
            )
        self.url = url
        shown = mask_url(url)
        try:
            info = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            # from None: psycopg's message quotes the URL, password and all
            message = mask_in(str(exc).strip(), url)
            raise ConfigurationError(f"invalid PostgreSQL URL {shown!r}: {message}") from None
        _check_params(info, shown)
        host = info.get("host") or info.get("hostaddr") or "localhost"
        self.where = f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.pool_size = pool_size
        self.application_name = f"scheduler {prefix}"
        self._cond = threading.Condition()
        self._idle: list[psycopg.Connection[Any]] = []
        self._open: list[psycopg.Connection[Any]] = []
        #: inherited through fork: referenced, never closed (closing ends the parent's session)
        self._inherited: list[psycopg.Connection[Any]] = []
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"PostgreSQLStore({self.where!r}, prefix={self.prefix!r})"  # no user, no password

    def same_as(self) -> PostgreSQLStore:
        other = PostgreSQLStore(
            self.url,
            prefix=self.prefix,
            connect_timeout=self.connect_timeout,
            statement_timeout=self.statement_timeout,
            history_limit=self.history_limit,
            history_max_age=self.history_max_age,
            pool_size=self.pool_size,
        )
        other.bind_clock(self.clock)
        return other

    # -- the pool --------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        options = ["-c TimeZone=UTC"]
        if self.statement_timeout:
            ms = max(1, int(self.statement_timeout * 1000))
            # a process frozen inside a transaction must not hold a job row lock forever
            options += [f"-c statement_timeout={ms}",
                        f"-c idle_in_transaction_session_timeout={max(1000, 2 * ms)}"]  # fmt: skip
        return psycopg.connect(
            self.url,
            autocommit=False,
            connect_timeout=max(1, round(self.connect_timeout)),
            application_name=self.application_name,
            options=" ".join(options),
        )

    def _acquire(self) -> psycopg.Connection[Any]:
        if os.getpid() != self._pid:
            self.after_fork()
        deadline = time.monotonic() + self.connect_timeout + self.statement_timeout
        with self._cond:
            while not self._idle and len(self._open) >= self.pool_size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailable(
                        f"PostgreSQL at {self.where}: all {self.pool_size} connections stayed "
                        f"busy for {self.connect_timeout + self.statement_timeout:g} s"
                    )
                self._cond.wait(left)
            if self._idle:
                return self._idle.pop()
            placeholder: Any = object()  # reserve the slot while connecting unlocked
            self._open.append(placeholder)
        try:
            conn = self._connect()
        except BaseException as exc:
            with self._cond:
                self._open.remove(placeholder)
                self._cond.notify()
            if isinstance(exc, psycopg.Error):
                reason = mask_in(exc, self.url).rstrip()
                raise StoreUnavailable(
                    f"cannot connect to PostgreSQL at {self.where}: {reason}"
                ) from exc
            raise
        with self._cond:
            self._open[self._open.index(placeholder)] = conn
        return conn

    def _release(self, conn: psycopg.Connection[Any], *, broken: bool = False) -> None:
        with self._cond:
            if conn not in self._open:  # closed by close() or forgotten by after_fork()
                return
            if broken or conn.closed or conn.broken:
                self._open.remove(conn)
            else:
                self._idle.append(conn)
                conn = None  # type: ignore[assignment]
            self._cond.notify()
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - already gone
                pass

    def _drop_idle(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            for conn in idle:
                self._open.remove(conn)
            self._cond.notify_all()
        for conn in idle:
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - already gone
                pass

    def after_fork(self) -> None:
        """Forget the parent's connections without closing them; new ones open on use."""
        self._cond = threading.Condition()  # another thread may have held it at the fork
        self._inherited.extend(c for c in self._open if isinstance(c, psycopg.Connection))
        self._open, self._idle = [], []
        self._pid = os.getpid()

    def close(self) -> None:
        """Close this process's connections. Idempotent."""
        if os.getpid() != self._pid:
            self.after_fork()
            return
        with self._cond:
            connections = [c for c in self._open if isinstance(c, psycopg.Connection)]
            self._open, self._idle = [], []
            self._cond.notify_all()
        for conn in connections:
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - already gone
                pass

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Cursor]:
        with self._session(autocommit=False) as cur:
            yield cur

    @contextmanager
    def _single(self) -> Iterator[Cursor]:
        """One statement in autocommit mode: no ``BEGIN`` and no ``COMMIT`` round trip (a
        single statement is its own transaction, as atomic)."""
        with self._session(autocommit=True) as cur:
            yield cur

    @contextmanager
    def _session(self, *, autocommit: bool) -> Iterator[Cursor]:
        conn = self._acquire()
        broken = True
        try:
            if autocommit:
                conn.autocommit = True  # the connection is idle: this sends nothing
            try:
                with conn.cursor() as cur:
                    yield cur
            finally:
                if autocommit and not (conn.closed or conn.broken):
                    conn.autocommit = False
            if not autocommit:
                conn.commit()
            broken = False
        except BaseException as exc:
            if not (conn.closed or conn.broken):
                try:
                    conn.rollback()
                    broken = False
                except psycopg.Error:
                    pass
            if _unavailable_error(exc):
                if broken:  # the server went away: its other connections are dead too
                    self._drop_idle()
                raise StoreUnavailable(
                    f"PostgreSQL at {self.where} is unavailable: {mask_in(exc, self.url)}"
                ) from exc
            if isinstance(exc, _DATA_ERRORS):
                raise StoreDataError(f"PostgreSQL at {self.where} refused: {exc}") from exc
            raise
        finally:
            self._release(conn, broken=broken)

    # -- server specifics ------------------------------------------------------------------
    def _lock_schema(self, cur: Cursor) -> None:
        # transaction-scoped: released by the COMMIT that publishes the schema
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(self.prefix),))

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, pg_errors.TransactionRollback)

    def _db_now(self, cur: Cursor) -> datetime:
        return cur.execute("SELECT clock_timestamp()").fetchone()[0].astimezone(timezone.utc)  # type: ignore[no-any-return]

    def now(self) -> datetime:
        """The database server's clock, aware UTC."""
        return self._tx(self._db_now, write=False)

    def drop_schema(self) -> None:
        """Drop this prefix's tables (for tests and uninstalling)."""
        p = self.prefix

        def tx(cur: Cursor) -> None:
            self._lock_schema(cur)
            cur.execute(f"DROP TABLE IF EXISTS {p}runs, {p}jobs, {p}instances, {p}meta")

        self._ready = True  # dropping needs no schema
        try:
            self._tx(tx)
        finally:
            self._ready = False
