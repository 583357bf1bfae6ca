"""What only the Redis store does: server checks, outages, data loss, forks, many processes.

The behaviour every store shares is in ``test_contract.py``. These tests use the shared test
Redis under a prefix of their own and never flush or restart it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from scheduler.exceptions import InvalidStoreURL, StoreUnavailable
from scheduler.stores import ClaimStatus, FireKey, JobDefinition, Owner, RunOutcome
from tests.services import require, unique_prefix
from tests.stores._skew import measure_twice

redis = pytest.importorskip("redis")
from scheduler.stores.redis import RedisStore  # noqa: E402

pytestmark = pytest.mark.redis

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
DEFINITION = JobDefinition(
    id="jobs:tick", name="tick", func_ref="jobs:tick", trigger={"type": "interval", "seconds": 60}
)
FP = DEFINITION.fingerprint


def fire(minute: int, job_id: str = DEFINITION.id) -> FireKey:
    return FireKey(job_id, T0 + timedelta(minutes=minute))


@pytest.fixture
def url() -> str:
    return require("redis")


@pytest.fixture
def admin(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(url: str) -> Iterator[RedisStore]:
    store = RedisStore(url, prefix=unique_prefix())
    store.open()
    store.register(DEFINITION, owner=Owner.current())
    yield store
    store.close()
    store.drop_keys()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def messages(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "scheduler.stores.redis" and r.levelno == level and text in r.getMessage()
    ]


# -- construction and open ------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis://127.0.0.1:port/0", ""]
)
def test_bad_url_fails_at_construction(bad: str) -> None:
    with pytest.raises(InvalidStoreURL, match="invalid Redis URL"):
        RedisStore(bad)


@pytest.mark.parametrize("prefix", ["", "my app:"])
def test_bad_prefix_fails_at_construction(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisStore("redis://127.0.0.1:6379/0", prefix=prefix)


def test_unreachable_server_names_host_and_port() -> None:
    port = closed_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0", socket_timeout=1)
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}") as info:
        store.open()
    assert isinstance(info.value.__cause__, redis.ConnectionError)
    store.close()


def test_warns_unless_noeviction(
    url: str, admin: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    before = admin.config_get("maxmemory-policy")["maxmemory-policy"]
    store = RedisStore(url, prefix=unique_prefix())
    try:
        admin.config_set("maxmemory-policy", "allkeys-lru")
        with caplog.at_level(logging.WARNING, logger="scheduler.stores.redis"):
            store.open()
    finally:
        admin.config_set("maxmemory-policy", before)
        store.close()
        store.drop_keys()
    [warning] = messages(caplog, logging.WARNING, "maxmemory-policy allkeys-lru")
    assert "noeviction" in warning


def test_warns_when_config_is_disabled(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(self: object, *args: object, **kwargs: object) -> None:
        raise redis.ResponseError("unknown command 'CONFIG'")

    monkeypatch.setattr(redis.Redis, "config_get", refused)
    store = RedisStore(url, prefix=unique_prefix())
    with caplog.at_level(logging.WARNING, logger="scheduler.stores.redis"):
        store.open()
    store.close()
    store.drop_keys()
    assert messages(caplog, logging.WARNING, "could not check")


def test_clock_skew_warns_once(store: RedisStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler"):
        measure_twice(store)
    [warning] = [r.getMessage() for r in caplog.records if "clock is" in r.getMessage()]
    assert "ahead of" in warning


# -- outages --------------------------------------------------------------------------------
def test_reconnects_after_its_connection_is_killed(store: RedisStore, admin: redis.Redis) -> None:
    first = store._redis.client_id()
    admin.client_kill_filter(_id=first)
    claim = store.claim(fire(1), fingerprint=FP, owner=Owner.current(), max_instances=1,
                        lease_seconds=30)  # fmt: skip
    assert claim.status is ClaimStatus.CLAIMED
    assert store._redis.client_id() != first


def test_outage_raises_store_unavailable_then_recovers(store: RedisStore) -> None:
    kwargs = store._conn.pool.connection_kwargs
    port = kwargs["port"]
    kwargs["port"] = closed_port()  # new connections go nowhere, as if the server were down
    store._conn.pool.disconnect()
    store._conn.pool.reset()
    owner = Owner.current()
    try:
        with pytest.raises(StoreUnavailable, match="unavailable \\(claim\\)"):
            store.claim(fire(1), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=30)
        with pytest.raises(StoreUnavailable):
            store.now()
    finally:
        kwargs["port"] = port
        store._conn.pool.reset()
    claim = store.claim(fire(1), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=30)
    assert claim.status is ClaimStatus.CLAIMED


def _lose_first_reply(store: RedisStore, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """The script runs, then the connection breaks before its reply arrives (once)."""
    real = store._conn.run_script
    broken = []

    def run(name: str, keys: list, args: list) -> list:
        reply = real(name, keys, args)
        if name == script and not broken:
            broken.append(name)
            raise redis.ConnectionError("Connection closed by server.")
        return reply

    monkeypatch.setattr(store._conn, "run_script", run)


def test_claim_whose_reply_was_lost_is_still_the_claimants(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lose_first_reply(store, monkeypatch, "CLAIM")
    owner = Owner.current()
    claim = store.claim(fire(1), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=30)
    assert claim.status is ClaimStatus.CLAIMED
    assert claim.token == 1
    [run] = store.get_runs(DEFINITION.id)
    assert run.run_id == claim.run_id
    _lose_first_reply(store, monkeypatch, "FINISH")
    assert store.finish(claim, outcome=RunOutcome.SUCCEEDED, attempt=1)
    # a plain second finish is still fenced off
    assert not store.finish(claim, outcome=RunOutcome.SUCCEEDED, attempt=1)


# -- data loss ------------------------------------------------------------------------------
def test_data_loss_turns_held_runs_uncertain(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    peer = store.same_as()
    peer.open()
    owner = Owner.current()
    claims = [
        store.claim(fire(m), fingerprint=FP, owner=owner, max_instances=5, lease_seconds=30)
        for m in (1, 2)
    ]
    assert store.mark_started(claims[0], attempt=1)
    # what a restart without persistence does to this prefix: the epoch and every run are gone
    store.drop_keys()
    with caplog.at_level(logging.ERROR, logger="scheduler.stores.redis"):
        assert not store.finish(claims[0], outcome=RunOutcome.SUCCEEDED, attempt=1)
        assert store.renew([claims[1]], lease_seconds=30) == set()
        assert not store.finish(claims[1], outcome=RunOutcome.SUCCEEDED, attempt=1)
        assert peer.get_job(DEFINITION.id) is None
        peer.register(DEFINITION, owner=owner)
    assert store.data_lost and peer.data_lost
    assert len(messages(caplog, logging.ERROR, "lost data")) == 2  # once per store object
    for claim in claims:
        run = store.get_run(claim.run_id or "")
        assert run is not None and run.outcome is RunOutcome.UNCERTAIN
        assert run.fire == claim.fire and run.token == claim.token and run.owner == str(owner)
    assert "reported succeeded" in (store.get_run(claims[0].run_id or "").error or "")
    # the uncertain fires are not claimed again
    again = peer.claim(fire(2), fingerprint=FP, owner=owner, max_instances=5, lease_seconds=30)
    assert again.status is ClaimStatus.TAKEN
    peer.close()


# -- leases ---------------------------------------------------------------------------------
def test_lease_expiry_without_waiting(store: RedisStore) -> None:
    peer = store.same_as()
    peer.open()
    owner = Owner.current()
    expired = store.claim(fire(1), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=0)
    assert expired.status is ClaimStatus.CLAIMED
    # an expired lease does not count against max_instances
    live = store.claim(fire(2), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=60)
    assert live.status is ClaimStatus.CLAIMED
    skipped = peer.claim(fire(3), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=60)
    assert skipped.status is ClaimStatus.SKIPPED

    reaped = store.reap() + peer.reap() + store.reap()
    assert [r.run_id for r in reaped] == [expired.run_id]
    assert reaped[0].outcome is RunOutcome.LOST
    assert reaped[0].error == "lease expired (never started)"
    assert not store.finish(expired, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert store.renew([expired, live], lease_seconds=60) == {live.run_id}

    retry = peer.retry_lost(expired.run_id or "", owner=owner, lease_seconds=60)
    assert retry is not None and retry.attempt == 2 and retry.token > live.token
    assert store.retry_lost(expired.run_id or "", owner=owner, lease_seconds=60) is None
    assert peer.finish(retry, outcome=RunOutcome.FAILED, attempt=2, error="boom")
    run = store.get_run(expired.run_id or "")
    assert run is not None and (run.outcome, run.attempt, run.error) == (
        RunOutcome.FAILED,
        2,
        "boom",
    )
    peer.close()


# -- history --------------------------------------------------------------------------------
def test_history_limit_prunes_finished_runs_and_keeps_fires_claimed(url: str) -> None:
    store = RedisStore(url, prefix=unique_prefix(), history_limit=3)
    store.open()
    owner = Owner.current()
    try:
        store.register(DEFINITION, owner=owner)
        live = store.claim(fire(0), fingerprint=FP, owner=owner, max_instances=9, lease_seconds=60)
        for m in range(1, 6):
            store.claim_missed(fire(m), fingerprint=FP, owner=owner, reason="late")
        runs = store.get_runs(DEFINITION.id)
        assert [r.scheduled_time for r in runs] == [fire(m).scheduled_time for m in (5, 4, 0)]
        assert store.get_runs(limit=10) == runs
        assert not store.claim_missed(fire(1), fingerprint=FP, owner=owner, reason="again")
        assert live.run_id in {r.run_id for r in runs}
    finally:
        store.close()
        store.drop_keys()


def test_history_max_age_prunes_old_finished_runs(url: str) -> None:
    store = RedisStore(url, prefix=unique_prefix(), history_max_age=timedelta(0))
    store.open()
    owner = Owner.current()
    try:
        store.register(DEFINITION, owner=owner)
        for m in (1, 2):
            assert store.claim_missed(fire(m), fingerprint=FP, owner=owner, reason="late")
        assert [r.scheduled_time for r in store.get_runs()] == [fire(2).scheduled_time]
    finally:
        store.close()
        store.drop_keys()


def test_get_runs_breaks_ties_by_claim_time(store: RedisStore) -> None:
    owner = Owner.current()
    ids = []
    for n in range(4):
        definition = JobDefinition(id=f"j{n}", name="j", func_ref="m:f", trigger={})
        store.register(definition, owner=owner)
        fk = fire(1, definition.id)
        claim = store.claim(fk, fingerprint=definition.fingerprint, owner=owner,
                            max_instances=1, lease_seconds=60)  # fmt: skip
        ids.append(claim.run_id)
    assert [r.run_id for r in store.get_runs(limit=2)] == ids[::-1][:2]
    assert [r.run_id for r in store.get_runs(limit=10)] == ids[::-1]


# -- processes ------------------------------------------------------------------------------
def test_forked_child_gets_its_own_connections(store: RedisStore) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    owner = Owner.current()
    assert store.claim(fire(1), fingerprint=FP, owner=owner, max_instances=9,
                       lease_seconds=60).status is ClaimStatus.CLAIMED  # fmt: skip
    parent_connection = store._redis.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            store.after_fork()
            child = Owner.current()
            claim = store.claim(fire(2), fingerprint=FP, owner=child, max_instances=9,
                                lease_seconds=60)  # fmt: skip
            ok = store.finish(claim, outcome=RunOutcome.SUCCEEDED, attempt=1)
            mine = store._redis.client_id() != parent_connection
            code = 0 if claim.status is ClaimStatus.CLAIMED and ok and mine else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"\x00"
    os.waitpid(pid, 0)
    # the parent's connection is the same one, still open
    assert store._redis.client_id() == parent_connection
    run = store.get_runs(DEFINITION.id)[0]
    assert (run.scheduled_time, run.outcome) == (fire(2).scheduled_time, RunOutcome.SUCCEEDED)


def _race_worker(url: str, prefix: str, fires: int, barrier, results) -> None:
    store = RedisStore(url, prefix=prefix)
    store.open()
    owner = Owner.current()
    mine = []
    barrier.wait()
    started = time.perf_counter()
    for m in range(fires):
        claim = store.claim(fire(m), fingerprint=FP, owner=owner, max_instances=fires,
                            lease_seconds=60)  # fmt: skip
        if claim.status is not ClaimStatus.TAKEN:
            mine.append((m, claim.status.value, claim.run_id))
    results.put((mine, time.perf_counter() - started))
    store.close()


def test_four_processes_claim_each_fire_exactly_once(store: RedisStore, url: str) -> None:
    fires, workers = 200, 4
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_race_worker, args=(url, store.prefix, fires, barrier, results))
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]  # hang guard only
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    won = [entry for mine, _ in outcomes for entry in mine]
    assert Counter(m for m, _, _ in won) == Counter(range(fires))
    assert {status for _, status, _ in won} == {"claimed"}
    runs = store.get_runs(DEFINITION.id, limit=fires * 2)
    assert sorted(r.run_id for r in runs) == sorted(run_id for _, _, run_id in won)
    assert sorted(r.token for r in runs) == list(range(1, fires + 1))


def test_stale_finish_of_a_pruned_run_is_only_fenced(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore(url, prefix=unique_prefix(), history_limit=1)
    store.open()
    owner = Owner.current()
    try:
        store.register(DEFINITION, owner=owner)
        stale = store.claim(fire(1), fingerprint=FP, owner=owner, max_instances=1, lease_seconds=0)
        assert [r.run_id for r in store.reap()] == [stale.run_id]
        assert store.claim_missed(fire(2), fingerprint=FP, owner=owner, reason="late")
        assert store.get_run(stale.run_id or "") is None  # pruned
        with caplog.at_level(logging.ERROR, logger="scheduler.stores.redis"):
            assert not store.finish(stale, outcome=RunOutcome.SUCCEEDED, attempt=1)
        assert store.get_run(stale.run_id or "") is None
        assert not store.data_lost and not messages(caplog, logging.ERROR, "")
    finally:
        store.close()
        store.drop_keys()


def test_close_leaves_no_connection(store: RedisStore, admin: redis.Redis) -> None:
    def mine() -> list[dict]:
        return [c for c in admin.client_list() if c.get("name") == f"scheduler:{store.prefix}"]

    store.get_runs()
    assert len(mine()) == 1
    store.close()
    assert mine() == []
    store.close()  # idempotent


def test_loading_server_is_unavailable_and_not_resent(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def loading(name: str, keys: list, args: list) -> list:
        calls.append(name)
        raise redis.BusyLoadingError("Redis is loading the dataset in memory")

    monkeypatch.setattr(store._conn, "run_script", loading)
    with pytest.raises(StoreUnavailable, match="loading"):
        store.claim(fire(1), fingerprint=FP, owner=Owner.current(), max_instances=1,
                    lease_seconds=30)  # fmt: skip
    assert calls == ["CLAIM"]
