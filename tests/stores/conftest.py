"""The ``store`` fixture: every contract test runs against every backend.

Each backend's factory returns an opened store with a prefix of its own and a cleanup that
drops what the test wrote and checks that no connection leaked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from scheduler.stores import Store
from scheduler.stores.memory import MemoryStore
from tests.services import require, unique_prefix


def _memory(tmp_path) -> tuple[Store, Callable[[], None]]:
    from scheduler.stores.memory import MemoryStore

    return MemoryStore(), lambda: None


def _sqlite(tmp_path) -> tuple[Store, Callable[[], None]]:
    from scheduler.stores.sqlite import SQLiteStore

    store = SQLiteStore(f"sqlite:///{tmp_path / 'jobs.db'}", prefix=unique_prefix())
    return store, lambda: None


def _postgresql(tmp_path) -> tuple[Store, Callable[[], None]]:
    url = require("postgresql")
    from scheduler.stores.postgresql import PostgreSQLStore

    store = PostgreSQLStore(url, prefix=unique_prefix())

    def cleanup() -> None:
        store.drop_schema()
        store.close()
        # every store of this test (same_as() ones too) shares the application_name
        assert pg_sessions(url, store.application_name) == 0, "a connection leaked"

    return store, cleanup


def pg_sessions(url: str, application_name: str) -> int:
    """Server sessions still open under ``application_name``.

    A closed connection's server process exits just after the client hangs up, so this
    polls until none is left; the deadline is a hang guard, the caller asserts the count.
    """
    import psycopg

    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchone()
            if count == 0 or time.monotonic() > deadline:
                return int(count)
            conn.execute("SELECT pg_sleep(0.01)")


def _redis(tmp_path) -> tuple[Store, Callable[[], None]]:
    url = require("redis")
    from scheduler.stores.redis import RedisStore

    store = RedisStore(url, prefix=unique_prefix())
    return store, store.drop_keys


BACKENDS = [
    pytest.param(_memory, id="memory"),
    pytest.param(_sqlite, id="sqlite"),
    pytest.param(_postgresql, id="postgresql", marks=pytest.mark.postgres),
    pytest.param(_redis, id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=BACKENDS)
def store_factory(request, tmp_path) -> Iterator[Callable[[], Store]]:
    """Opens stores of one backend that share one database (several 'processes')."""
    made: list[tuple[Store, Callable[[], None]]] = []
    first: list[Store] = []

    def make() -> Store:
        if not first:
            store, cleanup = request.param(tmp_path)
            made.append((store, cleanup))
            first.append(store)
        elif isinstance(first[0], MemoryStore):  # no database apart from itself
            store = first[0]
        else:  # a second instance on the same database and prefix (each backend's same_as)
            store = first[0].same_as()  # type: ignore[attr-defined]
            made.append((store, lambda: None))
        store.open()
        return store

    yield make
    for store, _ in made:
        store.close()
    for _, cleanup in made:
        cleanup()


@pytest.fixture
def store(store_factory) -> Store:
    return store_factory()
