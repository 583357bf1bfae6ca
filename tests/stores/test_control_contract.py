"""The store contract for control (issue 12): pause flags and requested runs, on every backend.

Same fixtures as :mod:`tests.stores.test_contract` (every backend, several store objects on
one database through ``store_factory``); written against the interface only.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from scheduler.exceptions import JobNotFound
from scheduler.stores import Claim, ClaimStatus, Owner, RunOutcome, Store
from scheduler.stores._control import REMOVED_REASON

from .test_contract import EXPIRED, LONG, ME, PEER, claim, job


@pytest.fixture
def registered(store: Store) -> Store:
    store.register(job(), owner=ME)
    return store


def take(
    store: Store,
    run_id: str,
    *,
    max_instances: int | None = 1,
    lease: float = LONG,
    owner: Owner = ME,
) -> Claim:
    return store.claim_request(
        run_id, owner=owner, lease_seconds=lease, max_instances=max_instances
    )


# -- pause -------------------------------------------------------------------------------------
def test_pause_flag_is_kept_and_listed(registered: Store) -> None:
    stored = registered.set_paused("tasks:report", True)
    assert stored.paused and stored.definition == job()
    assert registered.get_job("tasks:report").paused  # type: ignore[union-attr]
    assert registered.paused_ids() == {"tasks:report"}
    assert [j.paused for j in registered.load_jobs(dynamic_only=False)] == [True]
    assert not registered.set_paused("tasks:report", False).paused
    assert registered.paused_ids() == set()
    assert not registered.get_job("tasks:report").paused  # type: ignore[union-attr]


def test_pause_survives_registration_of_any_definition(registered: Store) -> None:
    registered.set_paused("tasks:report", True)
    registered.register(job(), owner=PEER)  # same definition: a restart
    assert registered.get_job("tasks:report").paused  # type: ignore[union-attr]
    registered.register(job(minutes=7), owner=PEER)  # a new definition of the same id
    assert registered.get_job("tasks:report").paused  # type: ignore[union-attr]
    assert registered.paused_ids() == {"tasks:report"}


def test_pause_goes_with_the_row(registered: Store) -> None:
    registered.set_paused("tasks:report", True)
    registered.unregister("tasks:report")
    assert registered.paused_ids() == set()
    registered.register(job(), owner=ME)
    assert not registered.get_job("tasks:report").paused  # type: ignore[union-attr]


def test_pause_of_an_unknown_job_raises(store: Store) -> None:
    with pytest.raises(JobNotFound, match="'nope'"):
        store.set_paused("nope", True)
    assert store.paused_ids() == set()


def test_pause_is_seen_by_another_store_object(store_factory) -> None:
    a, b = store_factory(), store_factory()
    a.register(job(), owner=ME)
    a.set_paused("tasks:report", True)
    assert b.paused_ids() == {"tasks:report"}
    assert b.get_job("tasks:report").paused  # type: ignore[union-attr]


# -- requests ----------------------------------------------------------------------------------
def test_request_is_a_queued_manual_run(registered: Store) -> None:
    before = registered.now()
    run_id = registered.request_run("tasks:report", requested_by="ops@host")
    run = registered.get_run(run_id)
    assert run is not None
    assert (run.trigger, run.requested_by, run.job_id) == ("manual", "ops@host", "tasks:report")
    assert run.outcome is None and run.claimed_at is None and run.lease_expires is None
    assert run.owner == ""
    assert before <= run.scheduled_time <= registered.now()
    assert registered.queued_requests() == 1
    assert registered.queued_requests("tasks:report") == 1
    assert registered.queued_requests("other") == 0
    assert [r.run_id for r in registered.queued_runs()] == [run_id]
    assert [r.run_id for r in registered.get_runs("tasks:report")] == [run_id]
    assert registered.get_job("tasks:report").last_fire is None  # type: ignore[union-attr]


def test_request_of_an_unknown_job_raises(store: Store) -> None:
    with pytest.raises(JobNotFound, match="'nope'"):
        store.request_run("nope", requested_by=None)
    assert store.queued_requests() == 0


def test_requests_at_once_get_their_own_run_keys(registered: Store) -> None:
    ids = [registered.request_run("tasks:report", requested_by=None) for _ in range(30)]
    assert len(set(ids)) == 30
    assert registered.queued_requests() == 30
    queued = registered.queued_runs(limit=10)
    assert len(queued) == 10
    times = [r.scheduled_time for r in queued]
    assert times == sorted(times)  # oldest first
    assert queued[0].run_id == ids[0]


def test_claimed_request_runs_like_a_fire(registered: Store) -> None:
    before = claim(registered, 0)
    assert registered.finish(before, outcome=RunOutcome.SUCCEEDED, attempt=1)
    run_id = registered.request_run("tasks:report", requested_by="ops")
    taken = take(registered, run_id)
    assert taken.status is ClaimStatus.CLAIMED
    assert taken.run_id == run_id and taken.fire.job_id == "tasks:report"
    assert taken.token > before.token  # the job's fencing counter
    assert taken.lease_expires is not None
    assert registered.queued_requests() == 0
    assert take(registered, run_id, owner=PEER).status is ClaimStatus.TAKEN  # once
    again = take(registered, run_id)  # its owner asks again (a reply lost): the same claim
    assert (again.status, again.token, again.run_id) == (ClaimStatus.CLAIMED, taken.token, run_id)
    assert registered.mark_started(taken, attempt=1)
    assert registered.renew([taken], lease_seconds=LONG) == {run_id}
    assert registered.finish(taken, outcome=RunOutcome.SUCCEEDED, attempt=1, result="'ok'")
    run = registered.get_run(run_id)
    assert run is not None
    assert (run.outcome, run.trigger, run.requested_by) == (RunOutcome.SUCCEEDED, "manual", "ops")
    assert run.owner == str(ME) and run.claimed_at is not None and run.started_at is not None
    assert registered.get_job("tasks:report").last_fire == before.fire.scheduled_time  # type: ignore[union-attr]


def test_request_waits_while_max_instances_leases_are_live(registered: Store) -> None:
    fire = claim(registered, 0)  # a scheduled run holds the one slot
    run_id = registered.request_run("tasks:report", requested_by=None)
    assert take(registered, run_id, max_instances=1).status is ClaimStatus.WAITING
    assert registered.queued_requests() == 1  # still queued, not dropped
    assert take(registered, run_id, max_instances=2).status is ClaimStatus.CLAIMED
    assert registered.finish(fire, outcome=RunOutcome.SUCCEEDED, attempt=1)


def test_request_counts_against_max_instances_once_claimed(registered: Store) -> None:
    run_id = registered.request_run("tasks:report", requested_by=None)
    assert claim(registered, 0).status is ClaimStatus.CLAIMED  # a queued request holds no slot
    assert take(registered, run_id, max_instances=2).status is ClaimStatus.CLAIMED
    assert claim(registered, 10, max_instances=2).status is ClaimStatus.SKIPPED


def test_request_for_a_removed_job_is_recorded_skipped(registered: Store) -> None:
    run_id = registered.request_run("tasks:report", requested_by="ops")
    registered.unregister("tasks:report")
    answer = take(registered, run_id)
    assert answer.status is ClaimStatus.SKIPPED and answer.run_id == run_id
    run = registered.get_run(run_id)
    assert run is not None
    assert run.outcome is RunOutcome.SKIPPED and run.error == REMOVED_REASON
    assert run.trigger == "manual" and run.requested_by == "ops"
    assert registered.queued_requests() == 0
    assert take(registered, run_id).status is ClaimStatus.TAKEN


def test_a_finished_request_is_taken_even_for_its_owner(registered: Store) -> None:
    run_id = registered.request_run("tasks:report", requested_by=None)
    taken = take(registered, run_id)
    assert registered.finish(taken, outcome=RunOutcome.FAILED, attempt=1, error="boom")
    assert take(registered, run_id).status is ClaimStatus.TAKEN


def test_unknown_request_is_taken(store: Store) -> None:
    assert take(store, "no-such-run").status is ClaimStatus.TAKEN


def test_queued_request_is_never_reaped(registered: Store) -> None:
    registered.request_run("tasks:report", requested_by=None)
    assert registered.reap() == []
    assert registered.queued_requests() == 1


def test_lost_manual_run_is_retried_as_manual(registered: Store) -> None:
    run_id = registered.request_run("tasks:report", requested_by="ops")
    assert take(registered, run_id, lease=EXPIRED).status is ClaimStatus.CLAIMED
    (lost,) = registered.reap()
    assert (lost.run_id, lost.outcome, lost.trigger) == (run_id, RunOutcome.LOST, "manual")
    again = registered.retry_lost(run_id, owner=PEER, lease_seconds=LONG)
    assert again is not None and again.attempt == 2
    assert registered.finish(again, outcome=RunOutcome.SUCCEEDED, attempt=2)
    run = registered.get_run(run_id)
    assert run is not None and run.trigger == "manual" and run.requested_by == "ops"


def test_claim_manual_takes_it_at_once_whatever_max_instances(registered: Store) -> None:
    fire = claim(registered, 0)
    manual = registered.claim_manual(
        "tasks:report", owner=PEER, lease_seconds=LONG, requested_by="shell"
    )
    assert manual.status is ClaimStatus.CLAIMED and manual.token > fire.token
    assert registered.queued_requests() == 0
    assert registered.finish(manual, outcome=RunOutcome.SUCCEEDED, attempt=1)
    run = registered.get_run(manual.run_id or "")
    assert run is not None
    assert (run.trigger, run.requested_by, run.owner) == ("manual", "shell", str(PEER))
    with pytest.raises(JobNotFound):
        registered.claim_manual("nope", owner=ME, lease_seconds=LONG, requested_by=None)


def test_one_store_object_of_several_takes_each_request(store_factory) -> None:
    stores = [store_factory() for _ in range(3)]
    stores[0].register(job(), owner=ME)
    ids = [stores[0].request_run("tasks:report", requested_by=None) for _ in range(10)]
    barrier = threading.Barrier(len(stores))
    won: Counter[str] = Counter()
    lock = threading.Lock()

    def race(store: Store, owner: Owner) -> None:
        barrier.wait(timeout=30)
        for run_id in ids:
            answer = take(store, run_id, max_instances=None, owner=owner)
            if answer.status is ClaimStatus.CLAIMED:
                with lock:
                    won[run_id] += 1
            else:
                assert answer.status is ClaimStatus.TAKEN, answer

    owners = [Owner("host", n, f"{n:012d}") for n in range(len(stores))]  # one per instance
    pairs = zip(stores, owners, strict=True)
    threads = [threading.Thread(target=race, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert won == Counter({run_id: 1 for run_id in ids})
    assert stores[1].queued_requests() == 0
