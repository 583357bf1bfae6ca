"""SQLite specifics: paths, outages, WAL, schema, fork and several processes on one file."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scheduler._time import from_us
from scheduler.exceptions import ConfigurationError, StoreError, StoreUnavailable
from scheduler.stores import ClaimStatus, FireKey, JobDefinition, Owner, from_url
from scheduler.stores import sqlite as sqlite_module
from scheduler.stores._sql import MIGRATIONS
from scheduler.stores.sqlite import SQLiteStore
from tests.privileges import as_nobody, nobody_dir
from tests.stores import _procs

ME = Owner("host", 1, "me")
JOB = JobDefinition(id="j", name="j", func_ref="m:f", trigger={"type": "x"})


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "jobs.db")


@pytest.fixture
def store(db):
    store = SQLiteStore(f"sqlite:///{db}")
    store.open()
    yield store
    store.close()


def claim(store: SQLiteStore, minute: int):
    return store.claim(
        FireKey("j", _procs.T0.replace(minute=minute)),
        fingerprint=JOB.fingerprint,
        owner=ME,
        max_instances=100,
        lease_seconds=3600,
    )


# -- construction ----------------------------------------------------------------------------
def test_urls(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert SQLiteStore("sqlite:///relative.db").path == "relative.db"
    assert SQLiteStore(f"sqlite:///{tmp_path}/abs.db").path == f"{tmp_path}/abs.db"
    assert SQLiteStore(tmp_path / "p.db").path == str(tmp_path / "p.db")
    assert isinstance(from_url(f"sqlite:///{tmp_path}/u.db"), SQLiteStore)
    assert SQLiteStore("x.db").durable and SQLiteStore("x.db").shared


def test_missing_directory_fails_at_construction(tmp_path) -> None:
    missing = tmp_path / "nope" / "jobs.db"
    with pytest.raises(ConfigurationError, match="does not exist") as info:
        SQLiteStore(f"sqlite:///{missing}")
    assert str(tmp_path / "nope") in str(info.value)


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "sqlite:relative.db"])
def test_unusable_urls(url) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteStore(url)


def test_directory_as_database(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        SQLiteStore(tmp_path)


def test_read_only_directory_fails_at_construction() -> None:
    def check(base: Path) -> None:
        locked = base / "ro"
        locked.mkdir(mode=0o500)
        with pytest.raises(ConfigurationError, match="not writable"):
            SQLiteStore(locked / "jobs.db")

    with nobody_dir() as base:
        as_nobody(check, base)  # root can write anywhere: the check runs as nobody


@pytest.mark.parametrize("prefix", ["", "1abc", "a-b", "a b", "x;drop", "a" * 41])
def test_bad_prefix(db, prefix) -> None:
    with pytest.raises(ConfigurationError, match="invalid table prefix"):
        SQLiteStore(db, prefix=prefix)


def test_network_filesystem_warns_once(tmp_path, monkeypatch, caplog) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/export {tmp_path} nfs4 rw 0 0\n")
    monkeypatch.setattr(sqlite_module, "_MOUNTS", str(mounts))
    with caplog.at_level(logging.WARNING, logger="scheduler.stores.sqlite"):
        SQLiteStore(tmp_path / "net.db")
        SQLiteStore(tmp_path / "net.db")
    warnings = [r for r in caplog.records if "network file system" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].fstype == "nfs4"  # type: ignore[attr-defined]


# -- outages ---------------------------------------------------------------------------------
def test_read_only_database_is_an_outage(store) -> None:
    store.register(JOB, owner=ME)
    store._connection().execute("PRAGMA query_only = ON")  # as if the file turned read-only
    with pytest.raises(StoreUnavailable, match="readonly") as info:
        claim(store, 0)
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert claim(store, 0).status is ClaimStatus.CLAIMED  # a fresh connection next time


def test_read_only_file_is_an_outage() -> None:
    def check(base: Path) -> None:
        db = base / "jobs.db"
        store = SQLiteStore(f"sqlite:///{db}")
        store.open()
        store.register(JOB, owner=ME)
        os.chmod(db, 0o444)
        store.close()  # the next call connects afresh, to a file that is read-only now
        try:
            with pytest.raises(StoreUnavailable):
                claim(store, 0)
        finally:
            os.chmod(db, 0o644)
            store.close()

    with nobody_dir() as base:
        as_nobody(check, base)  # root can write a read-only file: the check runs as nobody


def test_full_database_is_an_outage(store) -> None:
    conn = store._connection()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    big = JobDefinition(id="big", name="big", func_ref="m:f", trigger={}, args=["x" * 200_000])
    with pytest.raises(StoreUnavailable, match="full"):
        store.register(big, owner=ME)
    store.register(big, owner=ME)  # the full connection was dropped; the disk has room
    assert store.get_job("big") is not None


def test_locked_past_busy_timeout_is_an_outage_then_recovers(db) -> None:
    store = SQLiteStore(db, busy_timeout=0.1)
    store.open()
    store.register(JOB, owner=ME)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            claim(store, 0)
    finally:
        other.rollback()
        other.close()
    assert claim(store, 0).status is ClaimStatus.CLAIMED
    store.close()


# -- schema ----------------------------------------------------------------------------------
def test_wal_and_schema_version(db, store) -> None:
    assert store.journal_mode() == "wal"
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"scheduler_jobs", "scheduler_runs", "scheduler_meta"} <= tables
    assert store.schema_version() == len(MIGRATIONS)


def test_a_process_that_never_closes_its_store_leaves_no_wal_behind(db) -> None:
    """The last connection to close checkpoints the WAL and deletes the -wal and -shm files;
    a process that exits without close() (a management command) still closes them, as
    nothing else holds its store's connections alive."""
    code = (
        "import sys; from scheduler.stores.sqlite import SQLiteStore; "
        "from tests.stores.test_sqlite import JOB, ME, claim; "
        "store = SQLiteStore(sys.argv[1]); store.register(JOB, owner=ME); "
        "won = claim(store, 0); store.mark_started(won, attempt=1)"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    subprocess.run([sys.executable, "-c", code, db], env=env, check=True, timeout=60)
    assert os.path.exists(db)
    assert not os.path.exists(db + "-wal") and not os.path.exists(db + "-shm")


def test_migration_is_idempotent(store) -> None:
    store.register(JOB, owner=ME)
    store.open()
    again = store.same_as()
    again.open()
    assert again.schema_version() == len(MIGRATIONS)
    assert again.get_job("j") is not None
    again.close()


def test_version_1_tables_gain_cancel_requested_and_keep_their_runs(tmp_path) -> None:
    """A database written by the previous release (schema 1) is migrated in place: its runs
    stay readable, without the flag (#9)."""
    path = str(tmp_path / "old.db")
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE scheduler_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for statement in MIGRATIONS[0]:
            raw.execute(statement.format(p="scheduler_", ts="BIGINT"))
        raw.execute("INSERT INTO scheduler_meta VALUES ('schema_version', '1')")
        raw.execute(
            "INSERT INTO scheduler_runs (run_id, job_id, scheduled_time, outcome, owner) "
            "VALUES ('r1', 'j', 0, 'succeeded', 'h:1:x')"
        )
    store = SQLiteStore(path)
    store.open()
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 2
        [run] = store.get_runs("j")
        assert run.run_id == "r1" and run.cancel_requested is False
    finally:
        store.close()


def _schema_3(path: str) -> sqlite3.Connection:
    """A database as schema 3 (before #12 and #15) wrote it, open for the test's rows."""
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE scheduler_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for step in MIGRATIONS[:3]:
        for statement in step:
            raw.execute(statement.format(p="scheduler_", ts="BIGINT"))
    raw.execute("INSERT INTO scheduler_meta VALUES ('schema_version', '3')")
    return raw


def test_version_3_tables_count_their_runs_for_the_history_limit(tmp_path) -> None:
    """Schema 6 counts each job's run rows (history_limit without a COUNT per claim): a
    database written at schema 3 (before it) gets the count of the runs it holds (#15)."""
    path = str(tmp_path / "old.db")
    with _schema_3(path) as raw:
        raw.execute(
            "INSERT INTO scheduler_jobs (id, definition, fingerprint, anchor, last_fire, token, "
            "registered_by, registered_at) VALUES ('j', ?, ?, 0, ?, 5, 'h:1:x', 0)",
            (JOB.to_json(), JOB.fingerprint, 5 * 60_000_000),
        )
        for minute in range(1, 6):
            raw.execute(
                "INSERT INTO scheduler_runs (run_id, job_id, scheduled_time, outcome, token, "
                "owner) VALUES (?, 'j', ?, 'succeeded', ?, 'h:1:x')",
                (f"r{minute}", minute * 60_000_000, minute),
            )
    store = SQLiteStore(path, history_limit=3)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        won = store.claim(
            FireKey("j", from_us(6 * 60_000_000)),
            fingerprint=JOB.fingerprint,
            owner=ME,
            max_instances=1,
            lease_seconds=60,
        )
        assert won.status is ClaimStatus.CLAIMED and won.token == 6
        assert [r.run_id for r in store.get_runs("j")][1:] == ["r5", "r4"]
    finally:
        store.close()


def test_version_3_tables_gain_pause_and_trigger_and_keep_their_rows(tmp_path) -> None:
    """A database written before #12 (schema 3) is migrated in place: its jobs are not
    paused, its runs were scheduled, and requests work on it at once."""
    path = str(tmp_path / "v3.db")
    with _schema_3(path) as raw:
        raw.execute(
            "INSERT INTO scheduler_jobs (id, definition, fingerprint, anchor, registered_by, "
            "registered_at) VALUES ('j', ?, ?, 0, 'h:1:x', 0)",
            (JOB.to_json(), JOB.fingerprint),
        )
        raw.execute(
            "INSERT INTO scheduler_runs (run_id, job_id, scheduled_time, outcome, owner) "
            "VALUES ('r1', 'j', 0, 'succeeded', 'h:1:x')"
        )
    store = SQLiteStore(path)
    store.open()
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 4
        [run] = store.get_runs("j")
        assert (run.run_id, run.trigger, run.requested_by) == ("r1", "schedule", None)
        assert store.get_job("j").paused is False  # type: ignore[union-attr]
        assert store.paused_ids() == set() and store.queued_requests() == 0
        key = store.request_run("j", requested_by="ops")
        assert store.set_paused("j", True).paused and store.queued_requests("j") == 1
        assert store.get_run(key).trigger == "manual"  # type: ignore[union-attr]
    finally:
        store.close()


def test_newer_schema_is_refused(db, store) -> None:
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE scheduler_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer"):
        store.same_as().open()


def test_prefixes_are_separate(db) -> None:
    a, b = SQLiteStore(db, prefix="a_"), SQLiteStore(db, prefix="b_")
    a.register(JOB, owner=ME)
    assert b.get_job("j") is None
    a.close()
    b.close()


def test_three_processes_open_together(db) -> None:
    reports = _procs.spawn_all(_procs.open_together, 3, f"sqlite:///{db}", "scheduler_")
    assert reports == [("ok", len(MIGRATIONS))] * 3


# -- fork ------------------------------------------------------------------------------------
@pytest.mark.parametrize("explicit", [True, False], ids=["after_fork", "pid-check"])
def test_fork_child_gets_its_own_connection(store, explicit) -> None:
    store.register(JOB, owner=ME)
    parent_conn = store._connection()
    assert claim(store, 0).status is ClaimStatus.CLAIMED
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            if explicit:
                store.after_fork()
            ok = store._connection() is not parent_conn
            ok = ok and claim(store, 1).status is ClaimStatus.CLAIMED
            store.close()
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store._connection() is parent_conn
    assert [r.scheduled_time.minute for r in store.get_runs()] == [1, 0]


# -- several processes -----------------------------------------------------------------------
def test_processes_claim_each_fire_once(db, capsys) -> None:
    keys = 200
    url = f"sqlite:///{db}"
    store = SQLiteStore(url)
    store.register(_procs.RACE_JOB, owner=ME)
    started = time.perf_counter()
    reports = _procs.spawn_all(_procs.claim_race, 4, url, "scheduler_", keys)
    assert [r[0] for r in reports] == ["ok"] * 4, reports
    won = [key for report in reports for key in report[1]]
    assert sorted(won) == list(range(keys))  # every key once, none twice
    assert len(store.get_runs(limit=1000)) == keys
    store.close()
    slowest = max(r[2] for r in reports)
    with capsys.disabled():
        print(f"\nSQLite race: {keys / slowest:.0f} fires claimed/s, {4 * keys / slowest:.0f} "
              f"claim calls/s ({time.perf_counter() - started:.1f} s with start-up)")  # fmt: skip


def test_processes_reap_and_retry_without_spurious_outages(db) -> None:
    """reap() and retry_lost() read, then write: in a deferred transaction two processes that
    both read could not both upgrade to the write lock, and one got 'database is locked' at
    once (no busy wait). Every write transaction takes the write lock first (BEGIN IMMEDIATE)."""
    loops = 150
    url = f"sqlite:///{db}"
    SQLiteStore(url).close()  # schema created once, before the race
    reports = _procs.spawn_all(_procs.reap_race, 4, url, "scheduler_", loops)
    assert [r[0] for r in reports] == ["ok"] * 4, reports
    assert [r[1] for r in reports] == [[]] * 4  # no StoreUnavailable anywhere
    store = SQLiteStore(url)
    runs = store.get_runs(limit=10_000)
    store.close()
    assert len(runs) == 4 * loops  # each claim made one run, reaped or retried in place
    assert sum(r[2] for r in reports) >= 4 * loops  # every claim was reaped, at least once
    assert sum(r[3] for r in reports) == sum(r.attempt - 1 for r in runs)


def test_requested_runs_count_toward_the_history_limit(db) -> None:
    """Runs asked for by hand (#12) are rows of the job's history like scheduled ones: once
    they are finished, the next claim prunes the history back to ``history_limit`` (#15's
    per-job row count must include them)."""
    from scheduler.stores import RunOutcome

    store = SQLiteStore(f"sqlite:///{db}", history_limit=2)
    store.open()
    try:
        store.register(JOB, owner=ME)
        for _ in range(3):
            key = store.request_run("j", requested_by="ops")
            taken = store.claim_request(key, owner=ME, lease_seconds=60, max_instances=None)
            assert taken.status is ClaimStatus.CLAIMED
            assert store.finish(taken, outcome=RunOutcome.SUCCEEDED, attempt=1)
        assert claim(store, 1).status is ClaimStatus.CLAIMED
        runs = store.get_runs("j", limit=10)
        assert len(runs) == 2  # the live claim and the newest requested run
        assert sorted(run.trigger for run in runs) == ["manual", "schedule"]
    finally:
        store.close()
