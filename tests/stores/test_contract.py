"""The store contract: what every backend must do, written against the interface only.

Leases expire without sleeping: ``lease_seconds=0`` gives a lease that is already expired
(a lease is live while ``lease_expires > now``), ``LONG`` one that outlives the test.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from scheduler.stores import (
    Claim,
    ClaimStatus,
    FireKey,
    JobDefinition,
    Owner,
    RunOutcome,
    Store,
)
from scheduler.testing import VirtualClock

LONG = 3600.0
EXPIRED = 0.0
T0 = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
ME = Owner("host-a", 101, "aaaaaaaaaaaa")
PEER = Owner("host-b", 202, "bbbbbbbbbbbb")


def job(job_id: str = "tasks:report", *, minutes: int = 5, dynamic: bool = False) -> JobDefinition:
    return JobDefinition(
        id=job_id,
        name=job_id,
        func_ref="tasks:report",
        trigger={"type": "interval", "seconds": minutes * 60},
        args=[1, "two"],
        kwargs={"three": 3},
        options={"max_instances": 1},
        dynamic=dynamic,
    )


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def claim(
    store: Store,
    minute: int,
    definition: JobDefinition | None = None,
    *,
    max_instances: int = 1,
    lease: float = LONG,
    owner: Owner = ME,
) -> Claim:
    definition = definition or job()
    return store.claim(
        FireKey(definition.id, at(minute)),
        fingerprint=definition.fingerprint,
        owner=owner,
        max_instances=max_instances,
        lease_seconds=lease,
    )


@pytest.fixture
def registered(store: Store) -> Store:
    store.register(job(), owner=ME)
    return store


# -- jobs ------------------------------------------------------------------------------------
def test_register_new_job(store: Store) -> None:
    before = store.now()
    registration = store.register(job(dynamic=True), owner=ME)
    assert registration.last_fire is None
    assert registration.replaced is None
    assert before <= registration.anchor <= store.now()
    stored = store.get_job("tasks:report")
    assert stored is not None
    assert stored.definition == job(dynamic=True)
    assert stored.fingerprint == job().fingerprint
    assert stored.anchor == registration.anchor
    assert stored.registered_by == str(ME)
    assert stored.broken is None


def test_register_same_fingerprint_changes_only_who(store: Store) -> None:
    first = store.register(job(), owner=ME)
    assert claim(store, 0).status is ClaimStatus.CLAIMED
    again = store.register(job(), owner=PEER)
    assert again.replaced is None
    assert again.anchor == first.anchor
    assert again.last_fire == at(0)
    stored = store.get_job("tasks:report")
    assert stored is not None
    assert stored.registered_by == str(PEER)
    assert stored.anchor == first.anchor


def test_register_different_fingerprint_replaces(store: Store) -> None:
    first = store.register(job(minutes=5), owner=ME)
    assert claim(store, 0, job(minutes=5)).status is ClaimStatus.CLAIMED
    second = store.register(job(minutes=7), owner=PEER)
    assert second.replaced is not None
    assert second.replaced.fingerprint == job(minutes=5).fingerprint
    assert second.replaced.definition == job(minutes=5)
    assert second.replaced.anchor == first.anchor
    assert second.last_fire == at(0)  # kept: catch-up must not replay claimed fires
    assert second.anchor >= first.anchor
    stored = store.get_job("tasks:report")
    assert stored is not None
    assert stored.fingerprint == job(minutes=7).fingerprint
    assert stored.anchor == second.anchor
    assert stored.last_fire == at(0)


def test_register_many_answers_as_register_would(store: Store) -> None:
    """Start-up registers its jobs in batches: each answer is the one register() gives."""
    first = store.register(job("kept"), owner=ME)
    assert claim(store, 0, job("kept")).status is ClaimStatus.CLAIMED
    store.register(job("changed", minutes=5), owner=ME)
    regs = store.register_many(
        [job("kept"), job("new", dynamic=True), job("changed", minutes=7)], owner=PEER
    )
    kept, new, changed = regs
    assert (kept.anchor, kept.last_fire, kept.replaced) == (first.anchor, at(0), None)
    assert new.last_fire is None and new.replaced is None
    assert changed.replaced is not None and changed.replaced.definition == job("changed")
    for definition, reg in zip([job("kept"), job("new", dynamic=True), job("changed", minutes=7)],
                               regs, strict=True):  # fmt: skip
        stored = store.get_job(definition.id)
        assert stored is not None and stored.definition == definition
        assert stored.anchor == reg.anchor and stored.registered_by == str(PEER)
    assert store.register_many([], owner=ME) == []


def test_last_registration_wins_and_loser_is_superseded(store_factory) -> None:
    a, b = store_factory(), store_factory()
    a.register(job(minutes=5), owner=ME)
    b.register(job(minutes=7), owner=PEER)
    assert claim(a, 1, job(minutes=5)).status is ClaimStatus.SUPERSEDED
    assert claim(b, 1, job(minutes=7)).status is ClaimStatus.CLAIMED
    stored = a.get_job("tasks:report")
    assert stored is not None and stored.definition == job(minutes=7)


def test_unregister(registered: Store) -> None:
    won = claim(registered, 0)
    registered.unregister("tasks:report")
    registered.unregister("no-such-job")
    assert registered.get_job("tasks:report") is None
    assert claim(registered, 1).status is ClaimStatus.SUPERSEDED
    assert registered.get_run(won.run_id) is not None  # history stays


def test_reregistered_job_cannot_claim_a_fire_it_already_ran(registered: Store) -> None:
    assert claim(registered, 0).status is ClaimStatus.CLAIMED
    registered.unregister("tasks:report")
    registered.register(job(), owner=ME)
    assert claim(registered, 0).status is ClaimStatus.TAKEN  # the run key still exists
    assert claim(registered, 1, max_instances=2).status is ClaimStatus.CLAIMED


def test_load_jobs(store: Store) -> None:
    store.register(job("static"), owner=ME)
    store.register(job("dynamic", dynamic=True), owner=ME)
    assert [j.definition.id for j in store.load_jobs()] == ["dynamic"]
    assert sorted(j.definition.id for j in store.load_jobs(dynamic_only=False)) == [
        "dynamic",
        "static",
    ]


def test_get_unknown_job(store: Store) -> None:
    assert store.get_job("nope") is None
    assert store.get_run("nope") is None


def test_mark_broken(store: Store) -> None:
    store.register(job(dynamic=True), owner=ME)
    store.mark_broken("tasks:report", "No module named 'tasks'")
    store.mark_broken("no-such-job", "ignored")
    (stored,) = store.load_jobs()
    assert stored.broken == "No module named 'tasks'"
    assert claim(store, 0).status is ClaimStatus.SUPERSEDED
    assert (
        store.claim_missed(
            FireKey("tasks:report", at(1)), fingerprint=job().fingerprint, owner=ME, reason="late"
        )
        is False
    )


# -- claims ----------------------------------------------------------------------------------
def test_claim_then_taken(registered: Store) -> None:
    won = claim(registered, 0)
    assert won.status is ClaimStatus.CLAIMED
    assert won.run_id and won.token > 0 and won.attempt == 1
    assert won.lease_expires is not None and won.lease_expires > registered.now()
    lost = claim(registered, 0, owner=PEER)
    assert lost.status is ClaimStatus.TAKEN
    assert lost.run_id is None
    run = registered.get_run(won.run_id)
    assert run is not None
    assert run.outcome is None
    assert run.fire == FireKey("tasks:report", at(0))
    assert run.owner == str(ME) and run.host == "host-a" and run.pid == 101
    assert run.token == won.token
    assert registered.get_job("tasks:report").last_fire == at(0)  # type: ignore[union-attr]


def test_claims_are_forward_only(registered: Store) -> None:
    assert claim(registered, 10).status is ClaimStatus.CLAIMED
    assert claim(registered, 5, max_instances=9).status is ClaimStatus.TAKEN
    assert claim(registered, 10, max_instances=9).status is ClaimStatus.TAKEN
    assert [r.scheduled_time for r in registered.get_runs()] == [at(10)]


def test_stale_fingerprint_is_superseded(registered: Store) -> None:
    assert claim(registered, 0, job(minutes=99)).status is ClaimStatus.SUPERSEDED
    assert claim(registered, 0, job("unknown")).status is ClaimStatus.SUPERSEDED
    assert registered.get_runs() == []
    assert claim(registered, 0).status is ClaimStatus.CLAIMED


def test_tokens_increase(registered: Store) -> None:
    tokens = [claim(registered, m, max_instances=10).token for m in range(4)]
    assert tokens == sorted(set(tokens))


def test_max_instances_one_skips_while_lease_live(registered: Store) -> None:
    first = claim(registered, 0)
    assert first.status is ClaimStatus.CLAIMED
    skipped = claim(registered, 1)
    assert skipped.status is ClaimStatus.SKIPPED
    assert skipped.run_id and skipped.run_id != first.run_id
    record = registered.get_run(skipped.run_id)
    assert record is not None and record.outcome is RunOutcome.SKIPPED
    assert record.finished_at is not None
    assert registered.finish(first, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert claim(registered, 2).status is ClaimStatus.CLAIMED


def test_max_instances_expired_lease_frees_the_slot(registered: Store) -> None:
    assert claim(registered, 0, lease=EXPIRED).status is ClaimStatus.CLAIMED
    assert claim(registered, 1).status is ClaimStatus.CLAIMED


def test_max_instances_two(registered: Store) -> None:
    statuses = [claim(registered, m, max_instances=2).status for m in range(4)]
    assert statuses == [
        ClaimStatus.CLAIMED,
        ClaimStatus.CLAIMED,
        ClaimStatus.SKIPPED,
        ClaimStatus.SKIPPED,
    ]


def test_max_instances_counts_only_live_leases(registered: Store) -> None:
    """Two runs hold slots, one of them with an expired lease: with max_instances=2 a third
    fire still finds a free slot (one live lease is one, not two). The time stands still
    where the store uses the host's clock: a lease expiring *now* is already expired."""
    registered.bind_clock(VirtualClock(T0))
    assert claim(registered, 0, max_instances=2, lease=EXPIRED).status is ClaimStatus.CLAIMED
    assert claim(registered, 1, max_instances=2).status is ClaimStatus.CLAIMED
    assert claim(registered, 2, max_instances=2).status is ClaimStatus.CLAIMED
    assert claim(registered, 3, max_instances=2).status is ClaimStatus.SKIPPED


def test_missed_record_says_who_when_and_why(registered: Store) -> None:
    before = registered.now()
    fire = FireKey("tasks:report", at(0))
    assert registered.claim_missed(
        fire, fingerprint=job().fingerprint, owner=ME, reason="late by 90s", coalesced=3
    )
    (run,) = registered.get_runs("tasks:report")
    assert run.run_id and registered.get_run(run.run_id) == run
    assert (run.job_id, run.scheduled_time) == ("tasks:report", at(0))
    assert (run.outcome, run.error, run.coalesced) == (RunOutcome.MISSED, "late by 90s", 3)
    assert run.owner == str(ME)
    assert run.attempt == 1  # the attempt it would have been
    assert run.token == 0  # never held a lease
    assert run.started_at is None and run.lease_expires is None
    assert run.claimed_at is not None and run.finished_at is not None
    assert before <= run.claimed_at == run.finished_at <= registered.now()


def test_claim_missed_once_only(registered: Store) -> None:
    fire = FireKey("tasks:report", at(0))
    fp = job().fingerprint
    assert registered.claim_missed(fire, fingerprint=fp, owner=ME, reason="late", coalesced=2)
    assert not registered.claim_missed(fire, fingerprint=fp, owner=PEER, reason="late")
    assert claim(registered, 0).status is ClaimStatus.TAKEN
    (run,) = registered.get_runs("tasks:report")
    assert run.outcome is RunOutcome.MISSED
    assert run.error == "late"
    assert run.coalesced == 2
    assert not registered.claim_missed(
        FireKey("tasks:report", at(5)), fingerprint="stale", owner=ME, reason="late"
    )


def test_coalesced_is_recorded(registered: Store) -> None:
    won = registered.claim(
        FireKey("tasks:report", at(0)),
        fingerprint=job().fingerprint,
        owner=ME,
        max_instances=1,
        lease_seconds=LONG,
        coalesced=3,
    )
    assert registered.get_run(won.run_id).coalesced == 3  # type: ignore[union-attr]


def test_a_claim_folding_a_fire_already_recorded_is_refused(registered: Store) -> None:
    """Two instances back from an outage a minute apart fold the same overdue fires: the
    second record must not count again a fire the first one covers (issue 10, item 8)."""
    fp = job().fingerprint
    first = registered.claim(
        FireKey("tasks:report", at(10)), fingerprint=fp, owner=ME, max_instances=1,
        lease_seconds=LONG, coalesced=2, covers_from=at(0),
    )  # fmt: skip
    assert first.status is ClaimStatus.CLAIMED
    # the peer folds 0..10 into 15: it overlaps the record at 10
    overlap = registered.claim(
        FireKey("tasks:report", at(15)), fingerprint=fp, owner=PEER, max_instances=9,
        lease_seconds=LONG, coalesced=3, covers_from=at(0),
    )  # fmt: skip
    assert overlap.status is ClaimStatus.TAKEN
    assert not registered.claim_missed(
        FireKey("tasks:report", at(15)), fingerprint=fp, owner=PEER, reason="late",
        coalesced=3, covers_from=at(5),
    )  # fmt: skip
    # counted again from the stored last fire, it folds nothing and is claimed
    recount = registered.claim(
        FireKey("tasks:report", at(15)), fingerprint=fp, owner=PEER, max_instances=9,
        lease_seconds=LONG, coalesced=0, covers_from=at(15),
    )  # fmt: skip
    assert recount.status is ClaimStatus.CLAIMED
    assert sorted((r.scheduled_time, r.coalesced) for r in registered.get_runs()) == [
        (at(10), 2),
        (at(15), 0),
    ]


def test_a_claim_on_another_anchor_is_superseded(store: Store) -> None:
    """After a data loss the job is registered again with a new anchor: an instance still
    counting from the old one is refused, so that every instance fires on one grid."""
    reg = store.register(job(), owner=ME)
    fp = job().fingerprint
    fire = FireKey("tasks:report", at(0))
    stale = store.claim(
        fire, fingerprint=fp, owner=PEER, max_instances=1, lease_seconds=LONG,
        anchor=reg.anchor - timedelta(seconds=3),
    )  # fmt: skip
    assert stale.status is ClaimStatus.SUPERSEDED
    assert not store.claim_missed(
        fire, fingerprint=fp, owner=PEER, reason="late", anchor=reg.anchor + timedelta(1)
    )
    assert store.get_runs() == []
    won = store.claim(
        fire, fingerprint=fp, owner=ME, max_instances=1, lease_seconds=LONG, anchor=reg.anchor
    )
    assert won.status is ClaimStatus.CLAIMED
    stored = store.get_job("tasks:report")
    assert stored is not None and stored.last_fire == at(0)


# -- leases and fencing ----------------------------------------------------------------------
def test_started_renewed_finished(registered: Store) -> None:
    won = claim(registered, 0)
    assert registered.mark_started(won, attempt=1)
    assert registered.renew([won], lease_seconds=LONG) == {won.run_id}
    assert registered.reap() == []
    assert registered.finish(won, outcome=RunOutcome.FAILED, attempt=1, error="boom", result="r")
    run = registered.get_run(won.run_id)
    assert run is not None
    assert run.outcome is RunOutcome.FAILED
    assert run.error == "boom" and run.result == "r"
    assert run.started_at is not None and run.finished_at is not None
    assert run.duration is not None and run.duration >= 0
    assert run.lease_expires is None
    # a second outcome never overwrites the first
    assert not registered.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert registered.get_run(won.run_id).outcome is RunOutcome.FAILED  # type: ignore[union-attr]
    assert registered.renew([won], lease_seconds=LONG) == set()
    assert registered.renew([], lease_seconds=LONG) == set()


def test_killed_is_kept_with_the_outcome(registered: Store) -> None:
    """RunRecord.killed (a worker process the scheduler had to kill) survives the store, and
    a run that was not killed reads back False."""
    killed, calm = claim(registered, 0, max_instances=2), claim(registered, 1, max_instances=2)
    assert registered.get_run(killed.run_id).killed is False  # type: ignore[union-attr]
    assert registered.finish(killed, outcome=RunOutcome.TIMED_OUT, attempt=1, killed=True)
    assert registered.finish(calm, outcome=RunOutcome.TIMED_OUT, attempt=1)
    assert registered.get_run(killed.run_id).killed is True  # type: ignore[union-attr]
    assert registered.get_run(calm.run_id).killed is False  # type: ignore[union-attr]
    by_id = {run.run_id: run.killed for run in registered.get_runs(limit=10)}
    assert by_id[killed.run_id] is True and by_id[calm.run_id] is False


def test_cancel_requested_is_kept_with_the_outcome(registered: Store) -> None:
    """A run that returned early because shutdown (or a timeout) set its cancel_event is
    recorded with the flag, so its history does not read as a plain success (#9)."""
    cancelled = claim(registered, 0)
    assert registered.mark_started(cancelled, attempt=1)
    assert registered.finish(
        cancelled, outcome=RunOutcome.SUCCEEDED, attempt=1, cancel_requested=True
    )
    plain = claim(registered, 5)
    assert registered.mark_started(plain, attempt=1)
    assert registered.finish(plain, outcome=RunOutcome.SUCCEEDED, attempt=1)
    flags = {run.run_id: run.cancel_requested for run in registered.get_runs("tasks:report")}
    assert flags == {cancelled.run_id: True, plain.run_id: False}
    assert registered.get_run(cancelled.run_id).cancel_requested  # type: ignore[union-attr]


def test_wrong_token_is_fenced(registered: Store) -> None:
    won = claim(registered, 0)
    forged = Claim(
        status=ClaimStatus.CLAIMED, fire=won.fire, run_id=won.run_id, token=won.token + 1000
    )
    assert not registered.mark_started(forged, attempt=1)
    assert registered.renew([forged], lease_seconds=LONG) == set()
    assert not registered.finish(forged, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert registered.get_run(won.run_id).outcome is None  # type: ignore[union-attr]


def test_reaped_run_is_fenced_off(registered: Store) -> None:
    won = claim(registered, 0, lease=EXPIRED)
    assert registered.mark_started(won, attempt=1)
    (reaped,) = registered.reap()
    assert reaped.run_id == won.run_id
    assert reaped.outcome is RunOutcome.LOST
    assert "never started" not in (reaped.error or "")
    assert str(ME) in (reaped.error or "")
    assert not registered.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert not registered.mark_started(won, attempt=1)
    assert registered.renew([won], lease_seconds=LONG) == set()
    assert registered.get_run(won.run_id).outcome is RunOutcome.LOST  # type: ignore[union-attr]
    assert registered.reap() == []


def test_reap_never_started(registered: Store) -> None:
    won = claim(registered, 0, lease=EXPIRED)
    (reaped,) = registered.reap()
    assert reaped.run_id == won.run_id
    assert reaped.error is not None and "never started" in reaped.error
    assert reaped.finished_at is not None and reaped.lease_expires is None


def test_reap_leaves_live_leases(registered: Store) -> None:
    live = claim(registered, 0, max_instances=5)
    dead = claim(registered, 1, max_instances=5, lease=EXPIRED)
    assert [r.run_id for r in registered.reap()] == [dead.run_id]
    assert registered.get_run(live.run_id).outcome is None  # type: ignore[union-attr]


def test_racing_reapers_each_get_a_run_once(store_factory) -> None:
    stores = [store_factory() for _ in range(3)]
    definitions = [job(f"job{i}") for i in range(10)]
    for definition in definitions:
        stores[0].register(definition, owner=ME)
    expired = {claim(stores[0], 0, d, lease=EXPIRED).run_id for d in definitions}
    barrier = threading.Barrier(len(stores))
    results: list[list[str]] = [[] for _ in stores]

    def reap(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = [r.run_id for r in stores[i].reap()]

    threads = [threading.Thread(target=reap, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    returned = Counter(run_id for found in results for run_id in found)
    assert set(returned) == expired
    assert set(returned.values()) == {1}


def test_retry_lost_once_only(registered: Store) -> None:
    won = claim(registered, 0, lease=EXPIRED)
    registered.reap()
    retried = registered.retry_lost(won.run_id, owner=PEER, lease_seconds=LONG)
    assert retried is not None
    assert retried.status is ClaimStatus.CLAIMED
    assert retried.run_id == won.run_id
    assert retried.fire == won.fire
    assert retried.attempt == 2
    assert retried.token > won.token
    assert registered.retry_lost(won.run_id, owner=ME, lease_seconds=LONG) is None
    run = registered.get_run(won.run_id)
    assert run is not None
    assert run.outcome is None and run.attempt == 2 and run.owner == str(PEER)
    # the old claim is fenced off, the new one holds the run
    assert not registered.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert registered.mark_started(retried, attempt=2)
    assert registered.finish(retried, outcome=RunOutcome.SUCCEEDED, attempt=2)
    run = registered.get_run(won.run_id)
    assert run is not None and run.outcome is RunOutcome.SUCCEEDED and run.attempt == 2


def test_retry_lost_reopens_the_run_with_a_live_lease_holding_its_slot(registered: Store) -> None:
    won = claim(registered, 0, lease=EXPIRED)
    assert registered.mark_started(won, attempt=1)
    registered.reap()
    before = registered.now()
    retried = registered.retry_lost(won.run_id, owner=PEER, lease_seconds=LONG)
    assert retried is not None and retried.lease_expires is not None
    assert retried.lease_expires > before
    run = registered.get_run(won.run_id)
    assert run is not None
    assert run.lease_expires is not None and run.lease_expires > before
    assert (run.outcome, run.started_at, run.finished_at) == (None, None, None)
    # it holds the job's one slot again: the next fire is skipped, the one after it is not
    assert claim(registered, 1).status is ClaimStatus.SKIPPED
    assert registered.finish(retried, outcome=RunOutcome.SUCCEEDED, attempt=2)
    assert claim(registered, 2).status is ClaimStatus.CLAIMED


def test_renew_skips_claims_it_does_not_hold(registered: Store) -> None:
    gone = claim(registered, 0)
    assert registered.finish(gone, outcome=RunOutcome.SUCCEEDED, attempt=1)
    held = claim(registered, 1, max_instances=9)
    assert registered.renew([gone, held], lease_seconds=LONG) == {held.run_id}


def test_retry_lost_needs_a_lost_run(registered: Store) -> None:
    won = claim(registered, 0)
    assert registered.retry_lost(won.run_id, owner=ME, lease_seconds=LONG) is None
    assert registered.retry_lost("no-such-run", owner=ME, lease_seconds=LONG) is None


def test_racing_retries_reopen_once(store_factory) -> None:
    a, b = store_factory(), store_factory()
    a.register(job(), owner=ME)
    won = claim(a, 0, lease=EXPIRED)
    a.reap()
    barrier = threading.Barrier(2)
    results: list[Claim | None] = [None, None]

    def retry(i: int, store: Store) -> None:
        barrier.wait(timeout=30)
        results[i] = store.retry_lost(won.run_id, owner=ME, lease_seconds=LONG)

    threads = [threading.Thread(target=retry, args=(i, s)) for i, s in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r is not None for r in results) == 1


# -- history ---------------------------------------------------------------------------------
def test_get_runs_order_limit_and_filter(store: Store) -> None:
    store.register(job("a"), owner=ME)
    store.register(job("b"), owner=ME)
    for minute in (0, 2, 4):
        claim(store, minute, job("a"), max_instances=9)
    for minute in (1, 3):
        claim(store, minute, job("b"), max_instances=9)
    assert [r.scheduled_time for r in store.get_runs()] == [at(m) for m in (4, 3, 2, 1, 0)]
    assert [r.scheduled_time for r in store.get_runs(limit=2)] == [at(4), at(3)]
    assert [r.scheduled_time for r in store.get_runs("b")] == [at(3), at(1)]
    assert [r.scheduled_time for r in store.get_runs("a", limit=1)] == [at(4)]
    assert store.get_runs("nobody") == []


def test_history_limit_prunes_oldest_finished(registered: Store) -> None:
    registered.history_limit = 3
    for minute in range(5):
        won = claim(registered, minute)
        assert won.status is ClaimStatus.CLAIMED
        assert registered.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert [r.scheduled_time for r in registered.get_runs("tasks:report")] == [
        at(4),
        at(3),
        at(2),
    ]
    # the pruned fire's run row is gone, but last_fire still refuses it
    assert claim(registered, 0).status is ClaimStatus.TAKEN
    assert claim(registered, 1).status is ClaimStatus.TAKEN


def test_pruned_last_fire_is_still_refused(registered: Store) -> None:
    """The forward-only claim at its edge: the fire *equal* to last_fire, once its run row has
    been pruned, is refused all the same (only ``last_fire`` guards it then)."""
    registered.history_limit = 1
    live = claim(registered, 0)
    assert live.status is ClaimStatus.CLAIMED
    assert claim(registered, 1).status is ClaimStatus.SKIPPED  # fire 0 holds the one slot
    # fire 1's finished (skipped) row is the oldest finished one: the limit drops it
    assert [r.scheduled_time for r in registered.get_runs("tasks:report")] == [at(0)]
    assert registered.get_job("tasks:report").last_fire == at(1)  # type: ignore[union-attr]
    assert claim(registered, 1).status is ClaimStatus.TAKEN
    assert claim(registered, 1, max_instances=9).status is ClaimStatus.TAKEN
    assert [r.scheduled_time for r in registered.get_runs("tasks:report")] == [at(0)]


def test_history_limit_counts_the_runs_kept_from_before_an_unregister(store: Store) -> None:
    """A job registered again after unregister() finds its old runs (history is kept) and
    they count towards the limit, as do missed fires."""
    store.history_limit = 3
    store.register(job(), owner=ME)
    for minute in range(3):
        won = claim(store, minute)
        assert store.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    store.unregister("tasks:report")
    store.register(job(), owner=ME)
    assert store.claim_missed(
        FireKey("tasks:report", at(3)), fingerprint=job().fingerprint, owner=ME, reason="late"
    )
    assert claim(store, 4).status is ClaimStatus.CLAIMED
    assert [r.scheduled_time for r in store.get_runs("tasks:report")] == [at(4), at(3), at(2)]


def test_history_limit_keeps_live_runs(registered: Store) -> None:
    registered.history_limit = 2
    live = [claim(registered, m, max_instances=9) for m in range(4)]
    assert {r.run_id for r in registered.get_runs()} == {c.run_id for c in live}


# -- several instances -----------------------------------------------------------------------
def test_two_instances_see_each_others_claims(store_factory) -> None:
    a, b = store_factory(), store_factory()
    a.register(job(), owner=ME)
    assert b.get_job("tasks:report") is not None
    won = claim(b, 0, owner=PEER)
    assert won.status is ClaimStatus.CLAIMED
    assert claim(a, 0).status is ClaimStatus.TAKEN
    assert claim(a, 1).status is ClaimStatus.SKIPPED  # b's lease counts for max_instances
    run = a.get_run(won.run_id)
    assert run is not None and run.owner == str(PEER)
    assert b.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    assert a.get_run(won.run_id).outcome is RunOutcome.SUCCEEDED  # type: ignore[union-attr]


def test_threads_claim_each_fire_once(store_factory) -> None:
    stores = [store_factory(), store_factory()]
    stores[0].register(job(), owner=ME)
    minutes = range(40)
    barrier = threading.Barrier(6)
    results: list[tuple[int, ClaimStatus]] = []
    lock = threading.Lock()

    def worker(store: Store) -> None:
        barrier.wait(timeout=30)
        for minute in minutes:
            status = claim(store, minute, max_instances=100).status
            with lock:
                results.append((minute, status))

    threads = [threading.Thread(target=worker, args=(stores[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    won = Counter(m for m, status in results if status is ClaimStatus.CLAIMED)
    assert set(won.values()) <= {1}
    assert len(results) == 6 * len(minutes)
    assert {s for _, s in results} <= {ClaimStatus.CLAIMED, ClaimStatus.TAKEN}
    # forward-only: a fire can be TAKEN by a later one, so count runs instead of minutes
    assert sum(won.values()) == len(stores[0].get_runs(limit=1000))


def test_concurrent_different_fires_share_one_slot(store_factory) -> None:
    stores = [store_factory() for _ in range(4)]
    stores[0].register(job(), owner=ME)
    barrier = threading.Barrier(len(stores))
    statuses: list[ClaimStatus] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait(timeout=30)
        for minute in range(i, 40, len(stores)):
            status = claim(stores[i], minute).status
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(statuses)[ClaimStatus.CLAIMED] == 1
    live = [r for r in stores[0].get_runs(limit=1000) if r.outcome is None]
    assert len(live) == 1


def test_history_stays_readable_after_close(registered: Store) -> None:
    """sched.get_runs() after shutdown(): the store closed, its history is still there."""
    won = claim(registered, 0)
    registered.finish(won, outcome=RunOutcome.SUCCEEDED, attempt=1)
    registered.close()
    runs = registered.get_runs("tasks:report")
    assert [r.outcome for r in runs] == [RunOutcome.SUCCEEDED]
    registered.close()


# -- live instances (#12) ----------------------------------------------------------------------
def beat(store: Store, owner: Owner = ME, *, running=(), lease: float = LONG) -> None:
    store.beat_instance(
        owner, version="9.9", started_at=store.now(), running=list(running), lease_seconds=lease
    )


def test_a_beating_instance_is_listed_with_what_it_runs(store: Store) -> None:
    before = store.now()
    beat(store, running=["b", "a", "b"])
    (info,) = store.list_instances()
    assert (info.instance, info.host, info.pid, info.version) == (str(ME), "host-a", 101, "9.9")
    assert info.running == ("a", "b")
    assert before <= info.started_at <= info.last_heartbeat <= store.now()
    assert info.lease_expires - info.last_heartbeat == timedelta(seconds=LONG)
    first = info
    beat(store, running=[])  # the next heartbeat: new lease, what runs now, same start
    (info,) = store.list_instances()
    assert info.running == ()
    assert info.started_at == first.started_at
    assert info.last_heartbeat >= first.last_heartbeat


def test_instances_of_every_process_are_listed_and_removed_one_by_one(store_factory) -> None:
    a, b = store_factory(), store_factory()
    beat(a, ME)
    beat(b, PEER, running=["tasks:report"])
    assert [i.instance for i in a.list_instances()] == [str(ME), str(PEER)]
    assert {i.instance: i.running for i in b.list_instances()}[str(PEER)] == ("tasks:report",)
    b.remove_instance(str(PEER))
    b.remove_instance("no-such-host:1:ffffffffffff")  # ignored
    assert [i.instance for i in a.list_instances()] == [str(ME)]


def test_an_instance_whose_lease_expired_is_not_listed(store: Store) -> None:
    beat(store, ME, lease=EXPIRED)  # it stopped beating (killed): its lease ran out
    beat(store, PEER)
    assert [i.instance for i in store.list_instances()] == [str(PEER)]
    beat(store, ME)  # it beats again (it was only cut off): listed again
    assert {i.instance for i in store.list_instances()} == {str(ME), str(PEER)}


def test_no_instances_in_a_new_store(store: Store) -> None:
    assert store.list_instances() == []
