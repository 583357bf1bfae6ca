"""Pause and run-now from any process (issue 12), in one process on virtual time.

A *running* scheduler and a *never-started* one (a web worker with autostart off, a shell)
share one SQLite file; the running one follows what the other one writes within one
heartbeat. The real-process versions on every durable store are in
``tests/reliability/test_control_processes.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scheduler import Scheduler
from scheduler.cli import format_jobs
from scheduler.exceptions import JobNotFound, StoreUnavailable
from scheduler.scheduler import pieces_of
from scheduler.stores import RunOutcome
from scheduler.stores._control import REMOVED_REASON
from scheduler.stores.memory import MemoryStore
from scheduler.testing import VirtualClock
from tests.store_wrappers import Wrapped

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
LEASE = 30.0
BEAT = LEASE / 3
HANG_GUARD = 30.0

calls: list[str] = []


def tick() -> str:
    calls.append("tick")
    return "ticked"


def heartbeat(sched: Scheduler) -> None:
    """Let the running scheduler's heartbeat complete a pass that began now."""
    import time

    pieces_of(sched).heartbeat.wait_for_fresh_pass(time.monotonic() + HANG_GUARD)


@pytest.fixture(autouse=True)
def no_calls() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


def app(db: str, clock: VirtualClock) -> Scheduler:
    """The app's scheduler, as every process builds it."""
    sched = Scheduler(store=db, clock=clock, lease_seconds=LEASE)
    sched.add_job(tick, timedelta(minutes=1), id="tick")
    return sched


@pytest.fixture
def running(db: str, clock: VirtualClock) -> Iterator[Scheduler]:
    sched = app(db, clock)
    sched.start()
    yield sched
    sched.shutdown(timeout=5)


@pytest.fixture
def shell(db: str, clock: VirtualClock) -> Iterator[Scheduler]:
    sched = app(db, clock)  # never started
    yield sched
    sched.shutdown()


def test_pause_from_a_never_started_scheduler_stops_the_running_one(
    running: Scheduler, shell: Scheduler, clock: VirtualClock
) -> None:
    clock.advance(minutes=1, scheduler=running)
    assert calls == ["tick"]
    assert shell.pause_job("tick").paused  # this process's copy, after the store has it
    assert shell.get_job("tick").paused and shell.get_jobs()[0].paused
    clock.advance(seconds=BEAT, scheduler=running)
    heartbeat(running)
    assert running.get_job("tick").paused  # within one heartbeat
    assert running.get_job("tick").next_run_time is None
    clock.advance(minutes=5, scheduler=running)
    assert calls == ["tick"]  # no fire while paused
    assert "paused" in format_jobs(shell)

    shell.resume_job("tick")
    clock.advance(seconds=BEAT, scheduler=running)
    heartbeat(running)
    job = running.get_job("tick")
    assert not job.paused
    # the next fire is computed from now: the five paused minutes are not caught up
    assert clock.now() < job.next_run_time <= clock.now() + timedelta(minutes=1)
    clock.advance(minutes=1, scheduler=running)
    assert calls == ["tick", "tick"]


def test_a_pause_survives_a_restart(db: str, clock: VirtualClock) -> None:
    first = app(db, clock)
    first.start()
    first.pause_job("tick")
    first.shutdown()
    again = app(db, clock)  # the job is declared again, unpaused in the code
    assert again.get_job("tick").paused  # listed as the store says, before start
    with again:
        assert again.get_job("tick").paused
        clock.advance(minutes=3, scheduler=again)
        assert calls == []
        again.resume_job("tick")
        clock.advance(minutes=1, scheduler=again)
    assert calls == ["tick"]


def test_pause_before_any_instance_started_registers_the_job(db: str, clock: VirtualClock) -> None:
    shell = app(db, clock)
    shell.pause_job("tick")  # the store has no row for it yet
    assert shell.store.get_job("tick").paused  # type: ignore[union-attr]
    shell.shutdown()


def test_unknown_ids_raise_job_not_found(shell: Scheduler, running: Scheduler) -> None:
    for sched in (shell, running):
        for call in (sched.pause_job, sched.resume_job, sched.request_run):
            with pytest.raises(JobNotFound, match="'nope'"):
                call("nope")
    assert running.store.queued_requests() == 0


def test_request_from_a_never_started_scheduler_runs_once_in_the_running_one(
    running: Scheduler, shell: Scheduler, clock: VirtualClock
) -> None:
    key = shell.request_run("tick", requested_by="ops@laptop")
    assert shell.store.queued_requests("tick") == 1
    clock.advance(seconds=BEAT, scheduler=running)
    heartbeat(running)
    clock.advance(scheduler=running)  # settle: the run finished
    run = running.store.get_run(key)
    assert run is not None
    assert (run.outcome, run.trigger, run.requested_by) == (
        RunOutcome.SUCCEEDED,
        "manual",
        "ops@laptop",
    )
    assert run.owner == str(running.owner) and run.result == "'ticked'"
    assert calls == ["tick"]
    assert shell.store.queued_requests() == 0
    # a manual run does not move the schedule: the minute's fire still comes
    clock.advance(minutes=1, scheduler=running)
    assert calls == ["tick", "tick"]
    assert [r.trigger for r in running.get_runs("tick")] == ["schedule", "manual"]


def test_request_runs_on_the_local_pool_with_the_memory_store(clock: VirtualClock) -> None:
    sched = Scheduler(clock=clock)
    sched.add_job(tick, "0 3 * * *", id="tick")
    queued = sched.request_run("tick")  # before start: it waits for this process to start
    assert sched.store.queued_requests() == 1
    with sched:
        key = sched.request_run("tick", requested_by="me")
        heartbeat(sched)  # asked at once, not a heartbeat later
        clock.advance(scheduler=sched)
        runs = {r.run_id: r for r in sched.get_runs("tick")}
        assert runs[queued].outcome is RunOutcome.SUCCEEDED
        assert runs[key].outcome is RunOutcome.SUCCEEDED and runs[key].requested_by == "me"
    assert calls == ["tick", "tick"]


def test_a_request_waits_for_max_instances_and_is_not_dropped(clock: VirtualClock) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(HANG_GUARD)

    sched = Scheduler(clock=clock, lease_seconds=LEASE)
    sched.add_job(blocking, "0 3 * * *", id="b", max_instances=1)
    with sched:
        first = sched.run_job("b")  # runs here whatever max_instances says
        assert started.wait(HANG_GUARD)
        key = sched.request_run("b")
        heartbeat(sched)
        assert sched.store.queued_requests("b") == 1  # at the limit: it waits, queued
        release.set()
        first.result(HANG_GUARD)
        heartbeat(sched)  # the finished run asked for another look
        clock.advance(scheduler=sched)
        assert sched.store.get_run(key).outcome is RunOutcome.SUCCEEDED  # type: ignore[union-attr]


def test_a_request_for_a_removed_job_is_recorded_skipped(clock: VirtualClock) -> None:
    sched = Scheduler(clock=clock)
    sched.add_job(tick, "0 3 * * *", id="tick")
    sched.add_job(tick, "0 4 * * *", id="other")
    key = sched.request_run("tick", requested_by="ops")
    sched.remove_job("tick")
    with sched:
        heartbeat(sched)
        run = sched.store.get_run(key)
    assert run is not None
    assert (run.outcome, run.error, run.requested_by) == (RunOutcome.SKIPPED, REMOVED_REASON, "ops")
    assert calls == []


def test_run_job_and_call_job_are_claimed_and_recorded(
    running: Scheduler, shell: Scheduler
) -> None:
    assert running.run_job("tick", requested_by="admin").result(HANG_GUARD) == "ticked"
    assert shell.call_job("tick") == "ticked"  # never started: on this thread
    runs = running.get_runs("tick")
    assert [(r.trigger, r.outcome) for r in runs] == [("manual", RunOutcome.SUCCEEDED)] * 2
    assert {r.requested_by for r in runs} == {"admin", None}
    assert {r.owner for r in runs} == {str(running.owner), str(shell.owner)}


class PauseRefused(Wrapped):
    """The store goes away just as a pause is written."""

    def set_paused(self, job_id: str, paused: bool):  # type: ignore[no-untyped-def]
        raise StoreUnavailable("connection refused")


def test_a_store_outage_while_pausing_raises_and_changes_nothing(clock: VirtualClock) -> None:
    inner = MemoryStore()
    sched = Scheduler(store=PauseRefused(inner), clock=clock)
    sched.add_job(tick, timedelta(minutes=1), id="tick")
    with sched:
        with pytest.raises(StoreUnavailable):
            sched.pause_job("tick")
        assert not sched.get_job("tick").paused  # nothing half-applied
        assert inner.paused_ids() == set()
        clock.advance(minutes=1, scheduler=sched)
    assert calls == ["tick"]  # it still fires




def test_a_request_for_another_instances_job_is_left_to_it(
    running: Scheduler, clock: VirtualClock
) -> None:
    from scheduler.stores import JobDefinition, Owner

    other = JobDefinition(id="other", name="other", func_ref="elsewhere:job",
                          trigger={"type": "cron", "expr": "0 3 * * *"})  # fmt: skip
    running.store.register(other, owner=Owner("elsewhere", 1, "x"))
    key = running.store.request_run("other", requested_by=None)
    clock.advance(seconds=BEAT, scheduler=running)
    heartbeat(running)
    assert running.store.queued_requests("other") == 1  # not this instance's to run
    assert running.store.get_run(key).outcome is None  # type: ignore[union-attr]


def test_a_paused_job_still_runs_when_asked(running: Scheduler, clock: VirtualClock) -> None:
    running.pause_job("tick")
    key = running.request_run("tick", requested_by="ops")
    heartbeat(running)
    clock.advance(scheduler=running)
    assert running.store.get_run(key).outcome is RunOutcome.SUCCEEDED  # type: ignore[union-attr]
    assert running.get_job("tick").paused  # and it stays paused
    clock.advance(minutes=3, scheduler=running)
    assert calls == ["tick"]


def test_a_job_added_again_at_run_time_stays_paused_as_the_store_says(
    db: str, shell: Scheduler, clock: VirtualClock
) -> None:
    """The heartbeat looks at the ids paused in the store, not at every job: a job replaced
    at run time (a new, unpaused copy here) under an id the store has paused is paused again
    within one heartbeat."""
    running = Scheduler(store=db, clock=clock, lease_seconds=LEASE, allowed_modules=[__name__])
    running.add_job(tick, timedelta(minutes=1), id="tick")
    with running:
        shell.pause_job("tick")
        clock.advance(seconds=BEAT, scheduler=running)
        heartbeat(running)
        assert running.get_job("tick").paused
        running.add_job(tick, timedelta(minutes=1), id="tick", replace_existing=True)
        clock.advance(seconds=BEAT, scheduler=running)
        heartbeat(running)
        assert running.get_job("tick").paused
        clock.advance(minutes=3, scheduler=running)
        assert calls == []
