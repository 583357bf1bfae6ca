"""The SQLite store: several processes on one host share one database file.

Usage::

    from scheduler.stores.sqlite import SQLiteStore

    store = SQLiteStore("sqlite:///var/lib/myapp/scheduler.db")

The file runs in WAL mode (readers never block the writer); every write is one
``BEGIN IMMEDIATE`` transaction (a fire's start and finish: one statement, which takes the
same lock), so claims from all processes are serialised by SQLite's own lock.
``synchronous=NORMAL``: a committed claim survives the process dying, not necessarily a
power cut (the WAL is synced at checkpoints, not at every commit).

Threads and processes: each thread gets its own connection, opened on first use and tied to
the process id, so a forked child opens new ones instead of using its parent's
(:meth:`SQLiteStore.after_fork` does the same explicitly). The inherited connections are
kept, never closed, in the child: closing them could disturb the parent's locks.

Permissions: whoever can write the database decides what runs, so a new database file is
created with mode 0600 (``file_mode``; SQLite gives its -wal and -shm files the same mode),
and a database file or directory that other users can write to is refused at construction
unless ``allow_shared_writable`` says so (see docs/security.md).

Failures: a path whose directory is missing or not writable fails at construction
(:class:`~scheduler.exceptions.ConfigurationError`). At run time "database is locked" past
``busy_timeout``, a read-only or full database and I/O errors raise
:class:`~scheduler.exceptions.StoreUnavailable`, which the scheduler handles as an outage.
SQLite's locking is not reliable on network file systems: a warning is logged once.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from .._time import to_us
from ..exceptions import (
    ConfigurationError,
    StoreDataError,
    StoreUnavailable,
)
from ._sql import SQLITE, Cursor, SQLStore
from ._sql_schema import SQLITE_NOW
from ._sqlite_files import check_mode, check_private, create_private, path_from_url

__all__ = ["SQLiteStore"]

logger = logging.getLogger("scheduler.stores.sqlite")

#: file system types on which SQLite's POSIX locks cannot be trusted
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph",
     "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "fuse.s3fs", "davfs", "fuse.rclone"}
)  # fmt: skip
_MOUNTS = "/proc/mounts"
_warned: set[str] = set()
_warned_lock = threading.Lock()
#: SQLite primary result codes that mean the database cannot be used right now:
#: PERM, BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB
_UNAVAILABLE_CODES = frozenset({3, 5, 6, 8, 10, 11, 13, 14, 15, 26})
_TRANSIENT_CODES = frozenset({5, 6})  # busy or locked: the connection itself is fine
_UNAVAILABLE_WORDS = ("locked", "readonly", "read-only", "disk", "full", "unable to open",
                      "not a database", "malformed", "i/o", "busy")  # fmt: skip


# fork() copies SQLite's in-process lock bookkeeping as it stands. If another thread is inside
# a transaction at that moment, the child inherits locks that no thread of its own will ever
# release, and its new connections wait on them (seen as a gunicorn --preload worker hanging
# in the busy handler). So every transaction holds this lock, and fork() takes it first: a
# fork happens between transactions. The child gets a fresh, unheld lock.
_fork_lock = threading.RLock()
_fork_lock_pid = os.getpid()


def _transaction_lock() -> threading.RLock:
    """The lock for this process: a child makes its own on first use (whichever at-fork
    hook runs first, the scheduler's restart or ours, sees a fresh one)."""
    global _fork_lock, _fork_lock_pid
    if _fork_lock_pid != os.getpid():
        _fork_lock = threading.RLock()
        _fork_lock_pid = os.getpid()
    return _fork_lock


def _fork_before() -> None:
    _transaction_lock().acquire()


def _fork_after_parent() -> None:
    _fork_lock.release()


def _fork_after_child() -> None:
    _transaction_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_fork_before, after_in_parent=_fork_after_parent, after_in_child=_fork_after_child
    )


def _check_writable(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigurationError(
            f"cannot use SQLite database {path!r}: directory {directory!r} does not exist"
        )
    if os.path.isdir(path):
        raise ConfigurationError(f"cannot use SQLite database {path!r}: it is a directory")
    # WAL mode creates -wal and -shm files beside the database
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"cannot use SQLite database {path!r}: directory {directory!r} is not writable"
        )
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigurationError(f"cannot use SQLite database {path!r}: file is not writable")


def filesystem_type(path: str, mounts: str | None = None) -> str | None:
    """The type of the file system holding ``path`` (longest mount point), or None."""
    try:
        with open(mounts or _MOUNTS, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, fstype = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, parts[2]
    return fstype


def _warn_if_network(path: str) -> None:
    fstype = filesystem_type(os.path.dirname(os.path.abspath(path)))
    if fstype not in NETWORK_FILESYSTEMS:
        return
    with _warned_lock:
        if path in _warned:
            return
        _warned.add(path)
    logger.warning(
        "SQLite database %s is on a %s network file system: its locking is unreliable there, "
        "so fires may run twice; use PostgreSQL or Redis to share a store between hosts",
        path,
        fstype,
        extra={"store": "sqlite", "path": path, "fstype": fstype},
    )


def _error_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else code & 0xFF


#: TOOBIG, CONSTRAINT, MISMATCH, RANGE: SQLite refused the data, not an outage
_DATA_CODES = frozenset({18, 19, 20, 25})


def _is_data_error(exc: sqlite3.Error) -> bool:
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError)):
        return True
    return _error_code(exc) in _DATA_CODES or "too big" in str(exc).lower()


def _is_unavailable(exc: sqlite3.Error) -> bool:
    if not isinstance(exc, sqlite3.OperationalError) and type(exc) is not sqlite3.DatabaseError:
        return False  # IntegrityError, ProgrammingError...: a bug, let it through
    code = _error_code(exc)
    if code is not None:
        return code in _UNAVAILABLE_CODES
    message = str(exc).lower()
    return any(word in message for word in _UNAVAILABLE_WORDS)


class SQLiteStore(SQLStore):
    """A store in one SQLite file, shared by the processes of one host.

    :param url_or_path: ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or a path
    :param prefix: prepended to table names (letters, digits, underscores)
    :param busy_timeout: seconds a write waits for another process's lock before the call
        raises :class:`~scheduler.exceptions.StoreUnavailable`
    :param history_limit: runs kept per job; None keeps all
    :param history_max_age: finished runs older than this are pruned; None keeps all
    :param file_mode: the mode a new database file gets (SQLite gives its -wal and -shm
        files the same): ``0o600``, only this user; ``0o660`` shares it with the group (and
        then accepts a group-writable file and directory). Also ``?file_mode=0660`` in the URL
    :param allow_shared_writable: accept a database file or directory that other users can
        write to (they can then decide what runs); also ``?allow_shared_writable=true``
    :raises ConfigurationError: the directory does not exist or is not writable, other users
        can write to the database or its directory, a bad option or prefix
    """

    durable = True
    shared = True
    dialect = SQLITE

    def __init__(
        self,
        url_or_path: str | os.PathLike[str],
        *,
        prefix: str = "scheduler_",
        busy_timeout: float = 5.0,
        history_limit: int | None = 1000,
        history_max_age: timedelta | None = None,
        file_mode: int = 0o600,
        allow_shared_writable: bool = False,
    ) -> None:
        super().__init__(
            prefix=prefix, history_limit=history_limit, history_max_age=history_max_age
        )
        if busy_timeout < 0:
            raise ConfigurationError(f"busy_timeout must be >= 0, got {busy_timeout!r}")
        self.path, options = path_from_url(url_or_path)
        self.file_mode = check_mode(options.get("file_mode", file_mode))
        self.allow_shared_writable = bool(
            options.get("allow_shared_writable", allow_shared_writable)
        )
        self.busy_timeout = busy_timeout
        _check_writable(self.path)
        if not self.allow_shared_writable:
            check_private(self.path, self.file_mode)
        _warn_if_network(self.path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._generation = 0
        self._connections: list[sqlite3.Connection] = []
        #: connections inherited through fork: referenced forever so they are never closed
        self._inherited: list[sqlite3.Connection] = []

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, prefix={self.prefix!r})"

    def same_as(self) -> SQLiteStore:
        other = SQLiteStore(
            self.path,
            prefix=self.prefix,
            busy_timeout=self.busy_timeout,
            history_limit=self.history_limit,
            history_max_age=self.history_max_age,
            file_mode=self.file_mode,
            allow_shared_writable=self.allow_shared_writable,
        )
        other.bind_clock(self.clock)
        return other

    # -- connections -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if not os.path.exists(self.path):
            create_private(self.path, self.file_mode)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = self._enable_wal(conn)
            if str(mode).lower() != "wal":
                logger.warning(
                    "SQLite database %s stays in %s journal mode, not WAL",
                    self.path,
                    mode,
                    extra={"store": "sqlite", "path": self.path, "journal_mode": mode},
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            # the store's clock in SQL (Dialect.now): the bound clock, read when called. By a
            # weak reference: a connection holding its store would keep both alive past the
            # last use, unclosed (its -wal and -shm files then outlive the process)
            store = weakref.ref(self)
            conn.create_function(SQLITE_NOW, 0, lambda: store()._now_us())  # type: ignore[union-attr]
        except BaseException:
            conn.close()
            raise
        return conn

    def _now_us(self) -> int:
        return to_us(self.clock.now())

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch the file to WAL (a no-op once it is).

        Switching answers "database is locked" at once, without waiting in the busy
        handler, while another process is switching or creating the file too, so this
        retries until ``busy_timeout`` has passed.
        """
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while True:
            try:
                mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
                if mode.lower() == "wal":
                    return mode
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if _error_code(exc) not in (*_TRANSIENT_CODES, None) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after a fork)."""
        if os.getpid() != self._pid:
            self.after_fork()
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.generation == self._generation:
            return conn
        conn = self._connect()
        with self._lock:
            self._connections.append(conn)
            local.conn, local.generation = conn, self._generation
        return conn

    def _discard(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        try:
            conn.close()
        except sqlite3.Error:
            pass

    def after_fork(self) -> None:
        """Forget the parent's connections without closing them; new ones open on use."""
        if os.getpid() != self._pid:
            self._lock = threading.Lock()  # a parent thread may have held it at the fork
            _transaction_lock()
        with self._lock:
            self._inherited.extend(self._connections)
            self._connections = []
            self._generation += 1
            self._pid = os.getpid()

    def close(self) -> None:
        if os.getpid() != self._pid:
            self.after_fork()
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing twice is harmless
                pass

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Cursor]:
        with _transaction_lock():
            with self._transaction_unforked(write) as cur:
                yield cur

    @contextmanager
    def _single(self) -> Iterator[Cursor]:
        """One write statement in autocommit mode: SQLite takes the write lock for it (waiting
        in the busy handler like ``BEGIN IMMEDIATE``) and commits it when it is done."""
        with _transaction_lock():
            with self._transaction_unforked(None) as cur:
                yield cur

    def _write1(self, sql: str, values: tuple[Any, ...]) -> int:
        """:meth:`_single` without its context managers: this is every fire's start and
        finish, and they cost as much Python as SQLite here."""
        if not self._ready:
            self.open()
        with _transaction_lock():
            conn: sqlite3.Connection | None = None
            try:
                conn = self._connection()
                return conn.execute(sql, values).rowcount
            except sqlite3.Error as exc:
                mapped = self._mapped(conn, exc)
                if mapped is exc:
                    raise
                raise mapped from exc

    def _mapped(self, conn: sqlite3.Connection | None, exc: sqlite3.Error) -> Exception:
        """What a driver error becomes (the connection is rolled back or dropped as needed):
        StoreUnavailable, StoreDataError, or the error itself (a bug)."""
        if not _is_unavailable(exc):
            if _is_data_error(exc):
                return StoreDataError(f"SQLite database {self.path} refused: {exc}")
            return exc
        if conn is not None:
            if _error_code(exc) in _TRANSIENT_CODES:
                if conn.in_transaction:
                    conn.rollback()
            else:  # read-only, full, I/O: start again from a fresh connection
                self._discard(conn)
        return StoreUnavailable(f"SQLite database {self.path} is unavailable: {exc}")

    @contextmanager
    def _transaction_unforked(self, write: bool | None) -> Iterator[Cursor]:
        """``write``: a write transaction, a read one, or (None) no transaction."""
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connection()
            cur = conn.cursor()
            if write is not None:
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cur
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            if write is not None:
                conn.commit()
        except sqlite3.Error as exc:
            mapped = self._mapped(conn, exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def ping(self) -> None:
        """A write, not a read: a locked, read-only or full file still serves reads (WAL),
        and the scheduler needs to write to claim."""
        sql = f"INSERT OR REPLACE INTO {self.prefix}meta (key, value) VALUES ('ping', ?)"
        self._tx(lambda cur: cur.execute(sql, (str(time.time()),)), write=True)

    def open(self) -> None:
        """Create or migrate the schema.

        :raises StoreUnavailable: the file cannot be opened, written or locked in time
        """
        super().open()
        logger.debug(
            "SQLite store ready at %s",
            self.path,
            extra={"store": "sqlite", "path": self.path, "prefix": self.prefix},
        )

    def journal_mode(self) -> str:
        """The database's journal mode (``wal`` once opened)."""
        return str(
            self._tx(lambda cur: cur.execute("PRAGMA journal_mode").fetchone()[0], write=False)
        )
