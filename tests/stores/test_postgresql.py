"""PostgreSQL specifics: unreachable server, outages and reconnects, schema, fork, processes."""

from __future__ import annotations

import logging
import os
import time

import pytest

from scheduler.exceptions import ConfigurationError, StoreUnavailable
from scheduler.stores import ClaimStatus, FireKey, JobDefinition, Owner, from_url
from scheduler.stores._sql import MIGRATIONS
from tests.services import require, unique_prefix
from tests.stores import _procs
from tests.stores._skew import measure_twice
from tests.stores.conftest import pg_sessions

psycopg = pytest.importorskip("psycopg")
from scheduler.stores.postgresql import PostgreSQLStore  # noqa: E402

pytestmark = pytest.mark.postgres

ME = Owner("host", 1, "me")
JOB = JobDefinition(id="j", name="j", func_ref="m:f", trigger={"type": "x"})


@pytest.fixture
def url() -> str:
    return require("postgresql")


@pytest.fixture
def make(url):
    """Opened stores on one fresh prefix; dropped, closed and checked for leaks after."""
    made: list[PostgreSQLStore] = []
    prefix = unique_prefix()

    def factory(**options) -> PostgreSQLStore:
        store = PostgreSQLStore(url, prefix=prefix, **options)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()
    if made:
        made[0].drop_schema()
        made[0].close()
        assert pg_sessions(url, made[0].application_name) == 0


@pytest.fixture
def store(make) -> PostgreSQLStore:
    store = make()
    store.open()
    return store


def claim(store: PostgreSQLStore, minute: int):
    return store.claim(
        FireKey("j", _procs.T0.replace(minute=minute)),
        fingerprint=JOB.fingerprint,
        owner=ME,
        max_instances=100,
        lease_seconds=3600,
    )


def backend_pid(store: PostgreSQLStore) -> int:
    return store._tx(lambda cur: cur.execute("SELECT pg_backend_pid()").fetchone()[0])


def test_unreachable_port_fails_at_open() -> None:
    store = PostgreSQLStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:1/test") as info:
        store.open()
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    store.close()


def test_from_url_and_bad_options(url) -> None:
    assert isinstance(from_url(url), PostgreSQLStore)
    with pytest.raises(ConfigurationError, match="invalid table prefix"):
        PostgreSQLStore(url, prefix="bad-prefix")
    with pytest.raises(ConfigurationError):
        PostgreSQLStore(url, connect_timeout=0)


def test_schema_version_and_idempotent_migration(make, store) -> None:
    assert store.schema_version() == len(MIGRATIONS)
    store.register(JOB, owner=ME)
    store.open()
    again = make()
    again.open()
    assert again.schema_version() == len(MIGRATIONS)
    assert again.get_job("j") is not None


def test_application_name_and_server_clock(store) -> None:
    name = store._tx(lambda cur: cur.execute("SHOW application_name").fetchone()[0])
    assert name == store.application_name == f"scheduler {store.prefix}"
    assert store.now().tzinfo is not None


def test_clock_skew_is_logged_once(make, caplog) -> None:
    store = make()
    with caplog.at_level(logging.WARNING, logger="scheduler"):
        measure_twice(store)
    assert len([r for r in caplog.records if "clock" in r.getMessage()]) == 1



def test_three_processes_open_together(make, url) -> None:
    store = make()  # registers the prefix for cleanup; the children create the schema
    reports = _procs.spawn_all(_procs.open_together, 3, url, store.prefix)
    assert reports == [("ok", len(MIGRATIONS))] * 3


def test_terminated_sessions_are_an_outage_then_reconnect(store, url) -> None:
    store.register(JOB, owner=ME)
    before = backend_pid(store)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (store.application_name,),
        )
    with pytest.raises(StoreUnavailable, match="unavailable"):
        claim(store, 0)
    assert claim(store, 0).status is ClaimStatus.CLAIMED
    assert backend_pid(store) != before


def test_statement_timeout_is_an_outage(make, url) -> None:
    store = make(statement_timeout=0.2)
    store.open()
    store.register(JOB, owner=ME)
    with psycopg.connect(url) as blocker:  # holds the job row lock in an open transaction
        blocker.execute(f"SELECT * FROM {store.prefix}jobs WHERE id = 'j' FOR UPDATE")
        with pytest.raises(StoreUnavailable, match="statement timeout"):
            claim(store, 0)
        blocker.rollback()
    assert claim(store, 0).status is ClaimStatus.CLAIMED


@pytest.mark.parametrize("explicit", [True, False], ids=["after_fork", "pid-check"])
def test_fork_keeps_the_parent_session(store, explicit) -> None:
    store.register(JOB, owner=ME)
    parent_pid = backend_pid(store)
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            if explicit:
                store.after_fork()
            ok = backend_pid(store) != parent_pid
            ok = ok and claim(store, 1).status is ClaimStatus.CLAIMED
            store.close()  # closes the child's own connections only
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert backend_pid(store) == parent_pid  # the parent's session survived
    assert [r.scheduled_time.minute for r in store.get_runs()] == [1]


def test_processes_claim_each_fire_once(make, url, capsys) -> None:
    keys = 200
    store = make()
    store.open()
    store.register(_procs.RACE_JOB, owner=ME)
    started = time.perf_counter()
    reports = _procs.spawn_all(_procs.claim_race, 4, url, store.prefix, keys)
    assert [r[0] for r in reports] == ["ok"] * 4, reports
    won = [key for report in reports for key in report[1]]
    assert sorted(won) == list(range(keys))  # every key once, none twice
    assert len(store.get_runs(limit=1000)) == keys
    slowest = max(r[2] for r in reports)
    with capsys.disabled():
        print(f"\nPostgreSQL race: {keys / slowest:.0f} fires claimed/s, {4 * keys / slowest:.0f} "
              f"claim calls/s ({time.perf_counter() - started:.1f} s with start-up)")  # fmt: skip
