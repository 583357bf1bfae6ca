"""Pause and run-now across real processes (issue 12), on SQLite, PostgreSQL and Redis.

Worker processes (``tests/reliability/worker.py``) run the jobs; the test process plays the
web worker or the shell: a scheduler built on the same store that is never started. Leases
are 1 s, so a heartbeat is a third of a second; waits for another process are polls whose
timeout is a hang guard, never a measurement.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from scheduler import Scheduler
from scheduler.exceptions import StoreUnavailable
from scheduler.stores import JobDefinition, Owner, RunOutcome, from_url
from scheduler.stores._control import REMOVED_REASON

from . import jobs
from .conftest import SharedStore
from .faults import FaultProxy, check_history, read_records, side_effects_match, wait_until
from .test_processes import history, job, start_together, stop_all

HANG_GUARD = 60.0
#: store options that make an outage show quickly (the proxy's cut, not a 30 s timeout)
FAST = {"postgresql": {"connect_timeout": 1.0}, "redis": {"socket_timeout": 2.0}}


def shell(shared: SharedStore, url: str | None = None) -> Scheduler:
    """A scheduler on the shared store that is never started (it declares no job)."""
    return Scheduler(store=from_url(url or shared.url, prefix=shared.prefix), lease_seconds=1.0)


def logged(worker, text: str) -> bool:  # type: ignore[no-untyped-def]
    return text in worker.log()


@pytest.mark.slow
def test_a_pause_in_one_process_stops_the_fires_of_two_others(shared: SharedStore) -> None:
    out = shared.tmp / "ticks.txt"
    spec = shared.spec([job("tick", "record", [str(out)], interval=0.3)], lease=1.0, tick=0.1)
    workers = start_together(shared, spec, 2)
    control = shell(shared)
    try:
        wait_until(lambda: len(read_records(out)) >= 3, HANG_GUARD, "the first fires")
        assert control.pause_job("tick").paused
        for worker in workers:  # each obeys within a heartbeat (the timeout: a hang guard)
            wait_until(lambda w=worker: logged(w, "job tick paused by another process"),
                       HANG_GUARD, f"worker {worker.pid} to pause")  # fmt: skip
        obeyed = datetime.now(timezone.utc)  # both instances have paused the job
        time.sleep(1.5)  # five fire intervals: none may be claimed while paused
        late = [r for r in history(shared, "tick") if r.scheduled_time > obeyed]
        assert late == []  # (a fire already dispatched when the flag flipped is older)
        paused_runs = len(history(shared, "tick"))

        control.resume_job("tick")
        for worker in workers:
            wait_until(lambda w=worker: logged(w, "job tick resumed by another process"),
                       HANG_GUARD, f"worker {worker.pid} to resume")  # fmt: skip
        wait_until(lambda: len(history(shared, "tick")) > paused_runs + 2, HANG_GUARD,
                   "fires after the resume")  # fmt: skip
    finally:
        stop_all(workers)
        control.shutdown()
    runs = history(shared, "tick")
    check_history(runs)
    side_effects_match(read_records(out), runs)
    assert {r.trigger for r in runs} == {"schedule"}


@pytest.mark.slow
def test_fifty_requests_from_a_never_started_scheduler_run_exactly_once(
    shared: SharedStore,
) -> None:
    out = shared.tmp / "manual.txt"
    yearly = {"id": "manual", "func": "tests.reliability.jobs:record", "args": [str(out)],
              "trigger": {"cron": "0 0 1 1 *"}, "options": {"max_instances": 4}}  # fmt: skip
    workers = start_together(shared, shared.spec([yearly], lease=1.0, tick=0.1), 3)
    control = shell(shared)
    try:
        keys = [control.request_run("manual", requested_by=f"test {i}") for i in range(50)]
        assert len(set(keys)) == 50
        store = shared.open()
        wait_until(lambda: store.queued_requests() == 0, HANG_GUARD, "every request taken")
        wait_until(
            lambda: all(r.outcome is not None for r in store.get_runs("manual", limit=100)),
            HANG_GUARD,
            "every requested run finished",
        )
    finally:
        stop_all(workers)
        control.shutdown()
    runs = history(shared, "manual")
    assert sorted(r.run_id for r in runs) == sorted(keys)  # exactly 50, each key once
    assert {r.outcome for r in runs} == {RunOutcome.SUCCEEDED}
    assert {r.trigger for r in runs} == {"manual"}
    assert {r.requested_by for r in runs} == {f"test {i}" for i in range(50)}
    records = read_records(out)
    assert len(records) == 50
    side_effects_match(records, runs)
    assert {r.pid for r in runs} <= {w.pid for w in workers}  # run there, never by the shell


def test_requests_wait_for_an_instance_and_one_for_a_removed_job_is_skipped(
    shared: SharedStore,
) -> None:
    out = shared.tmp / "late.txt"
    store = shared.open()
    gone = JobDefinition(id="gone", name="gone", func_ref="tests.reliability.jobs:record",
                         trigger={"type": "cron", "expr": "0 0 1 1 *"})  # fmt: skip
    store.register(gone, owner=Owner.current())
    control = shell(shared)
    try:
        doomed = control.request_run("gone", requested_by="ops")
        store.unregister("gone")  # removed before any instance took the request
        assert store.queued_requests() == 1  # no instance alive: it stays queued
        spec = shared.spec([job("late", "record", [str(out)], interval=3600)], lease=1.0)
        (worker,) = start_together(shared, spec, 1)
        key = control.request_run("late", requested_by="ops")
        wait_until(lambda: store.queued_requests() == 0, HANG_GUARD, "the requests taken")
        wait_until(
            lambda: all(store.get_run(k).outcome is not None for k in (key, doomed)),  # type: ignore[union-attr]
            HANG_GUARD,
            "both requests settled",
        )
        stop_all([worker])
    finally:
        control.shutdown()
    skipped = store.get_run(doomed)
    assert skipped is not None
    assert (skipped.outcome, skipped.error, skipped.trigger) == (
        RunOutcome.SKIPPED,
        REMOVED_REASON,
        "manual",
    )
    ran = store.get_run(key)
    assert ran is not None and ran.outcome is RunOutcome.SUCCEEDED
    assert len(read_records(out)) == 1


@pytest.mark.parametrize("kind", [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
])  # fmt: skip
def test_a_store_outage_while_pausing_raises_and_nothing_is_half_applied(
    make_shared, kind: str
) -> None:
    shared = make_shared(kind)
    with FaultProxy(shared.url) as proxy:
        control = shell(shared, proxy.url)
        declared = control.add_job(print, "0 0 1 1 *", id="report")  # as in the app
        try:
            control.resume_job("report")  # registers the row: the store knows the job
            proxy.down()
            with pytest.raises(StoreUnavailable):
                control.pause_job("report")
            assert not declared.paused  # this process's copy is unchanged too
            proxy.up()
            store = shared.open()
            assert store.paused_ids() == set()  # nothing was written
            assert control.pause_job("report").paused  # and once the store is back, it works
            assert store.paused_ids() == {"report"}
        finally:
            control.shutdown()


@pytest.mark.parametrize("kind", [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
])  # fmt: skip
def test_a_request_taken_as_the_connection_drops_after_commit_still_runs_once(
    make_shared, kind: str
) -> None:
    """The reply to the step that takes a request is lost after the store committed it:
    the instance asks again, is told the run is its own, and runs it (not left to expire)."""
    shared = make_shared(kind)
    out = shared.tmp / "out.txt"
    store = shared.open()
    with FaultProxy(shared.url) as proxy:
        sched = Scheduler(store=from_url(proxy.url, prefix=shared.prefix, **FAST[kind]),
                          lease_seconds=1.0, tick=0.1)  # fmt: skip
        sched.add_job(jobs.record, "0 0 1 1 *", id="req", args=[str(out)])
        key = sched.request_run("req", requested_by="ops")  # registers the job, queues
        if kind == "postgresql":  # the UPDATE that leases the request, then its COMMIT
            fired = proxy.cut_after(b"SET token = ", b"COMMIT")
        else:  # the script's arguments carry this text
            text = b"removed before the requested"
            fired = proxy.cut_after(text, text)
        sched.start()
        try:
            assert fired.wait(HANG_GUARD), "the connection was never cut"
            wait_until(lambda: store.get_run(key).outcome is not None,  # type: ignore[union-attr]
                       HANG_GUARD, "the requested run")  # fmt: skip
        finally:
            sched.shutdown(timeout=3)
    run = store.get_run(key)
    assert run is not None
    assert run.outcome is RunOutcome.SUCCEEDED, run  # run by its taker, not expired as lost
    assert len(read_records(out)) == 1
