"""Edges that only slow or multi-process tests used to check, under the virtual clock:

* the retry backoff is capped at five minutes, however many attempts;
* the heartbeat renews a running job's lease every third of the lease (not less often);
* an Interval keeps the grid of its first registration across a restart on a durable store;
* a lost run is retried exactly ``retries`` times.

Each fails on a hand-made mutant of the code (docs/testing.md lists them).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from scheduler import Interval, Scheduler, current_job
from scheduler.events import JobFailed, JobLost, JobRetried
from scheduler.stores import Claim, RunOutcome
from scheduler.stores.memory import MemoryStore
from scheduler.testing import VirtualClock, settle
from tests.core_support import HANG, START, Recorder, wait

T0 = datetime.fromisoformat(START)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def events() -> Recorder:
    return Recorder()


# -- backoff cap -----------------------------------------------------------------------------
def test_retry_backoff_doubles_up_to_five_minutes_and_stays_there(
    clock: VirtualClock, events: Recorder
) -> None:
    sched = Scheduler(clock=clock, lease_seconds=3600)
    sched.add_listener(events)

    def always() -> None:
        raise RuntimeError("down")

    sched.add_job(always, "1 12 * * *", id="always", retries=11)
    try:
        with sched:
            clock.advance(minutes=1, scheduler=sched)
            for n in range(1, 12):
                [*_, retried] = events.wait_for(JobRetried, n)
                clock.advance(seconds=retried.delay)
            events.wait_for(JobFailed)
            settle(sched)
    finally:
        sched.shutdown(timeout=1)
    delays = [e.delay for e in events.of(JobRetried)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    [run] = sched.get_runs("always")
    assert (run.outcome, run.attempt) == (RunOutcome.FAILED, 12)


# -- lease renewal frequency -----------------------------------------------------------------
def test_a_running_jobs_lease_is_renewed_after_a_third_of_the_lease(clock: VirtualClock) -> None:
    """A delayed heartbeat has two thirds of the lease as margin only if it renews every
    third: after lease/3 and a little, the lease of a running job must have moved."""
    lease = 30.0
    sched = Scheduler(clock=clock, lease_seconds=lease)
    started = threading.Event()
    release = threading.Event()

    def long_job() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(long_job, "1 12 * * *", id="long")
    try:
        with sched:
            clock.advance(minutes=1, scheduler=sched, wait=False)
            wait(started, "the job to start")
            sched._heartbeat.wait_for_fresh_pass(_real_deadline())  # a pass with the run live
            [run] = sched.get_runs("long")
            first = run.lease_expires
            assert first is not None
            clock.advance(lease / 3 + 0.5)  # a jump: only the heartbeat's own cadence counts
            sched._heartbeat.wait_for_fresh_pass(_real_deadline())
            [run] = sched.get_runs("long")
            assert run.outcome is None
            assert run.lease_expires is not None
            assert run.lease_expires > first, "not renewed a third of the lease after"
            assert run.lease_expires == clock.now() + timedelta(seconds=lease)
            release.set()
    finally:
        release.set()
        sched.shutdown(timeout=HANG)
    [run] = sched.get_runs("long")
    assert run.outcome is RunOutcome.SUCCEEDED


def _real_deadline() -> float:
    import time

    return time.monotonic() + HANG


# -- Interval anchor across a restart --------------------------------------------------------
def noop() -> None:
    """A job importable by name, as a durable store requires."""


def test_interval_keeps_its_first_registration_grid_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    clock = VirtualClock(START)
    first = Scheduler(clock=clock, store=url)
    first.add_job(noop, Interval(minutes=10), id="grid")
    with first:
        clock.advance(minutes=25, scheduler=first)
    clock.advance(minutes=2)  # down for a while, restarted off the grid at T0+27
    second = Scheduler(clock=clock, store=url)
    second.add_job(noop, Interval(minutes=10), id="grid")
    with second:
        clock.advance(minutes=20, scheduler=second)
    runs = [(r.scheduled_time, r.outcome) for r in reversed(second.get_runs("grid"))]
    assert runs == [(T0 + timedelta(minutes=m), RunOutcome.SUCCEEDED) for m in (10, 20, 30, 40)]


# -- lost runs are retried exactly `retries` times -------------------------------------------
class NoRenewals(MemoryStore):
    """A store whose lease renewals never land (as if each was lost on the way): every run's
    lease runs out and the heartbeat reaps the run as lost."""

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        return set()


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_a_lost_run_is_retried_exactly_retries_times(
    clock: VirtualClock, events: Recorder, retries: int
) -> None:
    sched = Scheduler(clock=clock, store=NoRenewals(), lease_seconds=30)
    sched.add_listener(events)
    attempts: list[int] = []
    lost = {n: threading.Event() for n in range(1, retries + 3)}
    sched.add_listener(lambda e: lost[e.attempt].set(), events=[JobLost])

    def stubborn() -> None:
        ctx = current_job()
        assert ctx is not None
        attempts.append(ctx.attempt)
        # a hung call: it returns once its run has been recorded as lost (or the test ends)
        lost[ctx.attempt].wait(60)

    sched.add_job(stubborn, "1 12 * * *", id="stubborn", retries=retries)
    try:
        with sched:
            steps_after_last = 0
            for _ in range(6 * 10):  # at most ten minutes, in steps of a third of the lease
                clock.advance(seconds=10, scheduler=sched, wait=False)
                sched._heartbeat.wait_for_fresh_pass(_real_deadline())
                if len(events.of(JobLost)) == retries + 1:
                    steps_after_last += 1
                    if steps_after_last == 9:  # three leases more: no further retry came
                        break
    finally:
        for event in lost.values():
            event.set()
        sched.shutdown(timeout=HANG)
    assert [e.attempt for e in events.of(JobLost)] == list(range(1, retries + 2))
    assert attempts == list(range(1, retries + 2))
    [run] = sched.get_runs("stubborn")
    assert (run.outcome, run.attempt) == (RunOutcome.LOST, retries + 1)
