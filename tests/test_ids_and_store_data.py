"""Job ids every store can index (#10 item 6), and store errors about data that are never
reported as an outage."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scheduler import Interval, Scheduler
from scheduler.exceptions import InvalidJob, StoreDataError, StoreUnavailable
from scheduler.job import MAX_ID_BYTES
from scheduler.stores import FireKey, JobDefinition, Owner
from scheduler.stores.memory import MemoryStore
from scheduler.testing import VirtualClock
from tests.services import require, unique_prefix


def job_func() -> None:
    pass


BAD_IDS = [
    pytest.param("x" * (MAX_ID_BYTES + 1), "at most 200 bytes", id="long-ascii"),
    pytest.param("é" * 101, "at most 200 bytes", id="long-utf8"),  # 202 bytes, 101 chars
    pytest.param("a\x00b", "control character", id="nul"),
    pytest.param("a\nb", "control character", id="newline"),
    pytest.param("a\x1b[2Jb", "control character", id="escape"),
    pytest.param("a\x85b", "control character", id="c1"),
    pytest.param("a\ud800b", "lone surrogate", id="surrogate"),
    pytest.param("  ", "non-empty", id="blank"),
]


@pytest.fixture(params=["memory", "sqlite"])
def sched(request, tmp_path: Path):
    store = None if request.param == "memory" else f"sqlite:///{tmp_path / 'j.db'}"
    s = Scheduler(store=store, clock=VirtualClock("2026-03-02T12:00:00+00:00"))
    yield s
    s.shutdown(timeout=1)


@pytest.mark.parametrize(("job_id", "rule"), BAD_IDS)
def test_bad_ids_are_refused_at_add_job_naming_the_rule(sched, job_id: str, rule: str) -> None:
    with pytest.raises(InvalidJob, match=rule):
        sched.add_job(job_func, "* * * * *", id=job_id)
    assert sched.get_jobs() == []


def test_the_longest_id_is_accepted(sched) -> None:
    assert sched.add_job(job_func, "* * * * *", id="é" * 100).id == "é" * 100  # 200 bytes


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("job_id", "rule"), [BAD_IDS[0], BAD_IDS[2]], ids=["long", "nul"]
)
def test_postgresql_refuses_bad_ids_at_add_job_before_start(job_id: str, rule: str) -> None:
    from scheduler.stores.postgresql import PostgreSQLStore

    store = PostgreSQLStore(require("postgresql"), prefix=unique_prefix())
    try:
        sched = Scheduler(store=store)
        with pytest.raises(InvalidJob, match=rule):
            sched.add_job(job_func, "* * * * *", id=job_id)
        sched.start()  # nothing left behind that would make start() fail
        sched.shutdown(timeout=1)
    finally:
        store.drop_schema()
        store.close()


@pytest.mark.postgres
# random text: a repeated letter would compress below the btree's limit
@pytest.mark.parametrize(
    "job_id", [os.urandom(4000).hex(), "a\x00b"], ids=["unindexable", "nul"]
)
def test_postgresql_data_errors_are_not_outages(job_id: str) -> None:
    """A row the server refuses is StoreDataError, never StoreUnavailable (which would make
    the scheduler probe, flap and wait for an outage that is not one)."""
    from scheduler.stores.postgresql import PostgreSQLStore

    store = PostgreSQLStore(require("postgresql"), prefix=unique_prefix())
    definition = JobDefinition(id=job_id, name="x", func_ref="m:f", trigger={"type": "x"})
    try:
        store.open()
        with pytest.raises(StoreDataError) as info:
            store.register(definition, owner=Owner.current())
        assert not isinstance(info.value, StoreUnavailable)
        store.ping()  # the store is fine: the same connection pool still answers
    finally:
        store.drop_schema()
        store.close()


class RefusingStore(MemoryStore):
    """Refuses the claims of one fire as a server refuses a value it cannot hold."""

    refuse: datetime | None = None

    def claim(self, fire: FireKey, **kwargs):  # type: ignore[no-untyped-def, override]
        if fire.scheduled_time == self.refuse:
            raise StoreDataError("value too long for the index")
        return super().claim(fire, **kwargs)


def test_a_refused_claim_skips_that_fire_only_and_is_not_an_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock("2026-03-02T12:00:00+00:00")
    store = RefusingStore()
    store.refuse = datetime(2026, 3, 2, 12, 0, 2, tzinfo=timezone.utc)
    sched = Scheduler(store=store, clock=clock)
    sched.add_job(job_func, Interval(seconds=1, start=clock.now()), id="j")
    with caplog.at_level(logging.WARNING, logger="scheduler"), sched:
        clock.advance(seconds=5, scheduler=sched)
        assert sched._outage_since is None
    fires = sorted(r.scheduled_time.second for r in sched.get_runs("j"))
    assert fires == [1, 3, 4, 5]  # the refused fire 2 only; the job went on
    messages = [r.getMessage() for r in caplog.records]
    assert not any("store unavailable" in m for m in messages), messages
    refused = [m for m in messages if "refused fire" in m]
    assert len(refused) == 1 and "value too long" in refused[0]
