"""Whoever can write the store must not run code (#10 item 1; docs/security.md).

Raw rows are written straight into the jobs table (SQLite, PostgreSQL) or hash (Redis), as
an attacker with the store's credentials would, naming ``os:system``, ``builtins:exec``, a
module whose import has a side effect, and a function reached through an allowed module.
Each must be marked broken without being imported or run, logged once at ERROR naming the
job and the function, listed as broken, and never claimed.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scheduler import Interval, Scheduler
from scheduler.cli import format_jobs
from scheduler.stores import JobDefinition, Store
from scheduler.testing import VirtualClock
from tests.services import require, unique_prefix

START = "2026-03-02T12:00:00+00:00"


def _definition(job_id: str, ref: str, args: list[object]) -> JobDefinition:
    return JobDefinition(
        id=job_id,
        name=job_id,
        func_ref=ref,
        trigger=Interval(seconds=1).to_dict(),
        args=args,
        dynamic=True,
    )


def _write_sql(store: Store, row: tuple[str, str, str], placeholder: str, execute) -> None:
    prefix = store.prefix  # type: ignore[attr-defined]
    now = datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc)
    stamp: object = int(now.timestamp() * 1_000_000) if placeholder == "?" else now
    sql = (
        f"INSERT INTO {prefix}jobs (id, definition, fingerprint, anchor, token, dynamic, "
        f"registered_by, registered_at) VALUES (?, ?, ?, ?, 0, 1, 'attacker', ?)"
    ).replace("?", placeholder)
    execute(sql, (*row, stamp, stamp))


def _row(definition: JobDefinition | tuple[str, str, str]) -> tuple[str, str, str]:
    """(id, definition text, fingerprint): a definition, or raw text as a writer may put it"""
    if isinstance(definition, tuple):
        return definition
    return definition.id, definition.to_json(), definition.fingerprint


def _sqlite(tmp_path: Path) -> tuple[Store, object, object]:
    import sqlite3

    from scheduler.stores.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "jobs.db", prefix=unique_prefix())

    def write(definition: JobDefinition) -> None:
        with sqlite3.connect(store.path) as conn:
            _write_sql(store, _row(definition), "?", conn.execute)

    return store, write, lambda: None


def _postgresql(tmp_path: Path) -> tuple[Store, object, object]:
    url = require("postgresql")
    import psycopg

    from scheduler.stores.postgresql import PostgreSQLStore

    store = PostgreSQLStore(url, prefix=unique_prefix())

    def write(definition: JobDefinition) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            _write_sql(store, _row(definition), "%s", conn.execute)

    return store, write, store.drop_schema


def _redis(tmp_path: Path) -> tuple[Store, object, object]:
    url = require("redis")
    import redis

    from scheduler.stores.redis import RedisStore

    store = RedisStore(url, prefix=unique_prefix())

    def write(definition: JobDefinition) -> None:
        client = redis.Redis.from_url(url, decode_responses=True)
        stamp = str(int(datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc).timestamp() * 1e6))
        job_id, text, fp = _row(definition)
        key = f"{store.prefix}job:{job_id}"
        client.hset(key, mapping={"def": text, "fp": fp, "anchor": stamp,
                                  "registered_by": "attacker", "registered_at": stamp})  # fmt: skip
        client.zadd(f"{store.prefix}jobs", {job_id: int(stamp)})
        client.close()

    return store, write, store.drop_keys


@pytest.fixture(
    params=[
        pytest.param(_sqlite, id="sqlite"),
        pytest.param(_postgresql, id="postgresql", marks=pytest.mark.postgres),
        pytest.param(_redis, id="redis", marks=pytest.mark.redis),
    ]
)
def hostile(request, tmp_path: Path) -> Iterator[tuple[Store, object]]:
    store, write, cleanup = request.param(tmp_path)
    store.open()
    yield store, write
    store.close()
    cleanup()  # type: ignore[operator]


def test_hostile_rows_are_never_imported_nor_run(
    hostile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store, write = hostile
    marker = tmp_path / "markers"
    marker.mkdir()
    module = f"sideeffect_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        f"open({str(marker / 'imported')!r}, 'w').close()\n"
        f"def run(*args):\n    open({str(marker / 'ran')!r}, 'w').close()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = {
        "shell": ("os:system", [f"touch {marker / 'shell'}"]),
        "exec": ("builtins:exec", [f"open({str(marker / 'exec')!r}, 'w').close()"]),
        "import": (f"{module}:run", []),
        # tests.reliability.jobs imports os: an allowed module must not be a way through
        "through": ("tests.reliability.jobs:os.system", [f"touch {marker / 'through'}"]),
    }
    for job_id, (ref, args) in rows.items():
        write(_definition(job_id, ref, args))

    clock = VirtualClock(START)
    sched = Scheduler(store=store, clock=clock, allowed_modules=["tests.reliability"])
    with caplog.at_level(logging.ERROR, logger="scheduler"), sched:
        clock.advance(seconds=30, scheduler=sched)  # 30 sync/fire chances
        sched._sync_dynamic()  # and an explicit extra pass: still one log line per job
        listing = format_jobs(sched)

    assert sorted(p.name for p in marker.iterdir()) == [], "a hostile row ran code"
    assert module not in sys.modules, "a hostile row imported a module"
    assert sched.get_jobs() == []
    for job_id, (ref, _) in rows.items():
        stored = store.get_job(job_id)
        assert stored is not None and stored.broken, job_id
        assert store.get_runs(job_id) == [], f"{job_id} was claimed"
        lines = [r for r in caplog.records if getattr(r, "job_id", None) == job_id]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        assert lines[0].levelno == logging.ERROR
        assert job_id in lines[0].getMessage() and ref in lines[0].getMessage()
        assert getattr(lines[0], "func_ref", None) == ref
        assert f"broken {job_id}:" in listing and f"function {ref}" in listing
    assert "not allowed" in str(store.get_job("shell").broken)  # type: ignore[union-attr]
    assert "not a function defined in" in str(store.get_job("through").broken)  # type: ignore[union-attr]


def test_an_allowed_stored_job_still_runs(hostile, tmp_path: Path) -> None:
    """The rule lets through what the process allowed: a peer's job under allowed_modules."""
    store, write = hostile
    out = tmp_path / "out.txt"
    write(_definition("fine", "tests.reliability.jobs:record", [str(out)]))
    clock = VirtualClock(START)
    with Scheduler(store=store, clock=clock, allowed_modules=["tests.reliability"]) as sched:
        clock.advance(seconds=3, scheduler=sched)
        assert "fine" in {j.id for j in sched.get_jobs()}
        assert store.get_job("fine").broken is None  # type: ignore[union-attr]
    assert out.exists()
    assert json.dumps(sorted({str(r.outcome) for r in store.get_runs("fine")})) == '["succeeded"]'


def tick() -> None:
    """A job of the code's own."""


def test_an_unreadable_row_does_not_stop_the_scheduler(
    hostile, caplog: pytest.LogCaptureFixture
) -> None:
    store, write = hostile
    write(("garbage", '{"id": "garbage", "func_ref": "os:system", "dynamic": true', "x"))
    clock = VirtualClock(START)
    sched = Scheduler(store=store, clock=clock)
    sched.add_job(tick, Interval(seconds=1), id="own")
    with caplog.at_level(logging.ERROR, logger="scheduler"), sched:  # start() must not raise
        clock.advance(seconds=10, scheduler=sched)
    assert {str(r.outcome) for r in store.get_runs("own")} == {"succeeded"}
    unreadable = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(unreadable) == 1, [r.getMessage() for r in caplog.records]
