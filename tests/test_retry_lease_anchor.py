"""Edges that only slow or multi-process tests used to check, under the virtual clock:

* the retry backoff is capped at five minutes, however many attempts;
* the heartbeat renews a running job's lease every third of the lease (not less often);
* an Interval keeps the grid of its first registration across a restart on a durable store;
* a lost run is retried exactly ``retries`` times.

Each fails on a hand-made mutant of the code (docs/testing.md lists them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
    """A store that no longer holds this process's leases (as if every renewal was lost on
    the way): renewals and outcomes are refused, so each run is fenced, stays open and is
    reaped as lost once its lease has run out."""

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        return set()

    def finish(self, claim: Claim, **kwargs: Any) -> bool:
        return False


def _steps(
    sched: Scheduler, clock: VirtualClock, until: Callable[[], bool], *, settle: bool = True
) -> None:
    """Move time in steps of a third of the lease (at most ten minutes), each followed by a
    heartbeat pass, until ``until()``. With ``settle`` each step also lets the ticker
    dispatch what came due (advance with the scheduler); without, time just moves."""
    for _ in range(60):
        if settle:
            clock.advance(seconds=sched.lease_seconds / 3, scheduler=sched, wait=False)
        else:
            clock.advance(seconds=sched.lease_seconds / 3)
        sched._heartbeat.wait_for_fresh_pass(_real_deadline())
        if until():
            return


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_a_lost_run_is_retried_exactly_retries_times(
    clock: VirtualClock, events: Recorder, retries: int
) -> None:
    sched = Scheduler(clock=clock, store=NoRenewals(), lease_seconds=30)
    sched.add_listener(events)
    attempts: list[int] = []
    returned: list[int] = []

    def stubborn() -> None:
        ctx = current_job()
        assert ctx is not None
        attempts.append(ctx.attempt)
        ctx.cancel_event.wait(60)  # fenced: its lease is gone (60 s: a hang guard)
        returned.append(ctx.attempt)

    def done() -> bool:
        if returned == attempts:
            settle(sched)  # every call returned: let its thread finish too
        lost = len(events.of(JobLost))
        return lost == retries + 1 and clock.now() > lost_at(retries + 1) + timedelta(minutes=2)

    def lost_at(n: int) -> datetime:
        return events.of(JobLost)[n - 1].timestamp  # type: ignore[no-any-return]

    sched.add_job(stubborn, "1 12 * * *", id="stubborn", retries=retries)
    try:
        with sched:
            _steps(sched, clock, done)  # until two minutes after the last loss: no retry more
    finally:
        sched.shutdown(timeout=HANG)
    assert [e.attempt for e in events.of(JobLost)] == list(range(1, retries + 2))
    assert attempts == list(range(1, retries + 2))
    [run] = sched.get_runs("stubborn")
    assert (run.outcome, run.attempt) == (RunOutcome.LOST, retries + 1)


class FirstAttemptUnrenewable(MemoryStore):
    """The first attempt's lease cannot be renewed (this process was cut off while it ran);
    a retry's can."""

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        return super().renew([c for c in claims if c.attempt > 1], lease_seconds=lease_seconds)


def test_a_hung_lost_attempt_returning_late_does_not_orphan_its_retry(
    clock: VirtualClock, events: Recorder
) -> None:
    sched = Scheduler(
        clock=clock, store=FirstAttemptUnrenewable(), lease_seconds=30, shutdown_timeout=1
    )
    sched.add_listener(events)
    retry_started = threading.Event()
    release = threading.Event()

    def hangs_then_retried() -> None:
        ctx = current_job()
        assert ctx is not None
        if ctx.attempt == 1:
            retry_started.wait(60)  # hung past its loss; returns once the retry runs
        else:
            retry_started.set()
            release.wait(60)

    sched.add_job(hangs_then_retried, "1 12 * * *", id="hung", retries=1)
    try:
        with sched:
            clock.advance(minutes=1, scheduler=sched, wait=False)  # the fire: attempt 1
            _steps(sched, clock, retry_started.is_set, settle=False)
            deadline = _real_deadline()
            while sched._runner.inflight > 1 and time.monotonic() < deadline:
                time.sleep(0.001)  # attempt 1's thread winds up (hang guard)
            assert sched._runner.inflight == 1
            start = clock.now()
            # no fire comes due: time just moves, and the heartbeat passes each third of the
            # lease (a settle would wait for the retry, which the bug leaves out of `live`)
            _steps(
                sched,
                clock,
                lambda: clock.now() >= start + timedelta(minutes=2),
                settle=False,
            )
            assert [e.attempt for e in events.of(JobLost)] == [1], "the running retry was lost"
            release.set()
    finally:
        release.set()
        retry_started.set()
        sched.shutdown(timeout=HANG)
    [run] = sched.get_runs("hung")
    assert (run.outcome, run.attempt) == (RunOutcome.SUCCEEDED, 2)


def test_an_anchored_interval_keeps_its_end(clock: VirtualClock) -> None:
    """Anchoring at the first registration keeps the trigger's ``end``: no fire after it."""
    sched = Scheduler(clock=clock)
    sched.add_job(noop, Interval(minutes=10, end=T0 + timedelta(minutes=25)), id="until")
    with sched:
        clock.advance(hours=1, scheduler=sched)
    fired = [r.scheduled_time for r in reversed(sched.get_runs("until"))]
    assert fired == [T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
