"""One fire on a pool thread: overlap, misfire, coalesce, jitter, retries, timeout, errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler import Cron, Interval, RunOutcome, Scheduler, current_job
from scheduler.context import RunContext
from scheduler.events import (
    JobFailed,
    JobMissed,
    JobRetried,
    JobSkipped,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
)
from scheduler.testing import VirtualClock, settle
from tests.core_support import HANG, START, Calls, Recorder, wait

T0 = datetime.fromisoformat(START)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
def sched(clock: VirtualClock, events: Recorder) -> Iterator[Scheduler]:
    s = Scheduler(
        # a long lease: jumping the virtual clock past a lease while a run is live would
        # (rightly) look like a frozen process, and the heartbeat would declare the run lost
        clock=clock,
        lease_seconds=3600,
    )
    s.add_listener(events)
    yield s
    s.shutdown(timeout=1)


def outcomes(sched: Scheduler, job_id: str) -> list[tuple[datetime, RunOutcome]]:
    """(scheduled time, outcome) of every recorded fire, oldest first."""
    return [(r.scheduled_time, r.outcome) for r in reversed(sched.get_runs(job_id, limit=1000))]


# -- where jobs run ------------------------------------------------------------------------


def test_jobs_run_in_pool_threads_not_the_ticker(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls(lambda: threading.current_thread().name)
    sched.add_job(calls, MINUTE, id="where")
    with sched:
        clock.advance(minutes=3, scheduler=sched)
    assert calls.count == 3
    assert all(name.startswith("scheduler-worker") for name in calls.values)
    assert threading.current_thread().name not in calls.values


def test_current_job_inside_a_run(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls(current_job)
    sched.add_job(calls, Cron("*/30 * * * *", timezone="Europe/Bratislava"), id="ctx")
    with sched:
        clock.advance(minutes=30, scheduler=sched)
    [ctx] = calls.values
    assert isinstance(ctx, RunContext)
    assert ctx.job_id == "ctx"
    assert ctx.scheduled_time == T0 + timedelta(minutes=30)
    assert ctx.scheduled_time.tzinfo == ZoneInfo("Europe/Bratislava")
    assert ctx.scheduled_time.hour == 13  # 12:30 UTC is 13:30 in Bratislava in March
    assert ctx.attempt == 1
    assert isinstance(ctx.cancel_event, threading.Event)
    assert not ctx.cancel_event.is_set()
    assert ctx.fire_key == "ctx@2026-03-02T12:30:00.000000Z"


def test_current_job_is_none_outside_a_run(sched: Scheduler, clock: VirtualClock) -> None:
    assert current_job() is None
    sched.add_job(Calls(), MINUTE, id="x")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        assert current_job() is None


def test_current_job_is_cleared_after_a_run_on_the_same_thread(
    clock: VirtualClock,
) -> None:
    sched = Scheduler(clock=clock, max_workers=1)
    seen: list[object] = []
    sched.add_job(lambda: None, MINUTE, id="first")
    sched.add_listener(lambda e: seen.append(current_job()), events=[JobSucceeded])
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    # the listener runs on the same pool thread right after the call: the context is gone
    assert seen == [None]


# -- max_instances -------------------------------------------------------------------------


def test_overlapping_fire_is_skipped(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(slow, MINUTE, id="slow")
    with sched:
        clock.advance(minutes=1)  # no scheduler=: the run blocks, settle() would wait for it
        wait(started, "the first run")
        clock.advance(minutes=1)
        [skipped] = events.wait_for(JobSkipped)
        release.set()
        settle(sched)
    assert skipped.job_id == "slow"
    assert skipped.scheduled_time == T0 + 2 * MINUTE
    assert "max_instances (1)" in skipped.reason
    assert outcomes(sched, "slow") == [
        (T0 + MINUTE, RunOutcome.SUCCEEDED),
        (T0 + 2 * MINUTE, RunOutcome.SKIPPED),
    ]


def test_max_instances_two_lets_two_overlap(sched: Scheduler, clock: VirtualClock) -> None:
    both = threading.Barrier(2, timeout=HANG)
    calls = Calls(lambda: both.wait())
    sched.add_job(calls, MINUTE, id="two", max_instances=2)
    with sched:
        clock.advance(minutes=1)
        wait(sched_started(sched, 1), "first run")
        clock.advance(minutes=1)
        settle(sched)  # both meet at the barrier: neither was skipped
    assert calls.count == 2
    assert [o for _, o in outcomes(sched, "two")] == [RunOutcome.SUCCEEDED] * 2


def sched_started(sched: Scheduler, count: int) -> threading.Event:
    """An event set once ``count`` runs have started (counted from now)."""
    done = threading.Event()
    seen = []

    def on_start(event: object) -> None:
        seen.append(event)
        if len(seen) >= count:
            done.set()

    sched.add_listener(on_start, events=[JobStarted])
    return done


# -- misfire and coalesce ------------------------------------------------------------------


def test_fire_later_than_grace_is_missed(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    calls = Calls()
    sched.add_job(calls, timedelta(hours=1), id="late", misfire_grace_time=60)
    with sched:
        # jump 90 minutes at once: the 13:00 fire is noticed at 13:30, 30 minutes late
        clock.advance(minutes=90)
        settle(sched)
        [missed] = events.wait_for(JobMissed)
    assert calls.count == 0
    assert missed.scheduled_time == T0 + timedelta(hours=1)
    assert "misfire_grace_time (60 s)" in missed.reason
    assert outcomes(sched, "late") == [(T0 + timedelta(hours=1), RunOutcome.MISSED)]


def test_fire_within_grace_runs_late(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls(lambda: clock.now())
    sched.add_job(calls, timedelta(hours=1), id="late", misfire_grace_time=3600)
    with sched:
        clock.advance(minutes=90)
        settle(sched)
    assert calls.values == [T0 + timedelta(minutes=90)]
    assert outcomes(sched, "late") == [(T0 + timedelta(hours=1), RunOutcome.SUCCEEDED)]


def test_grace_none_runs_however_late(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    sched.add_job(calls, timedelta(hours=1), id="late", misfire_grace_time=None)
    with sched:
        clock.advance(days=30)
        settle(sched)
    assert calls.count == 1


def test_coalesce_folds_overdue_fires_into_one_run(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls(current_job)
    sched.add_job(calls, MINUTE, id="c", coalesce=True)
    with sched:
        clock.advance(minutes=5)
        settle(sched)
    [ctx] = calls.values
    assert ctx is not None
    assert ctx.scheduled_time == T0 + 5 * MINUTE  # the latest overdue fire runs
    [run] = sched.get_runs("c")
    assert run.outcome is RunOutcome.SUCCEEDED
    assert run.coalesced == 4


def test_without_coalesce_each_overdue_fire_runs(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls(lambda: current_job().scheduled_time)  # type: ignore[union-attr]
    sched.add_job(calls, MINUTE, id="c", coalesce=False)
    with sched:
        clock.advance(minutes=5)
        settle(sched)
    assert calls.values == [T0 + m * MINUTE for m in range(1, 6)]
    assert [r.coalesced for r in sched.get_runs("c")] == [0] * 5


def test_coalesce_then_grace_judges_the_latest_fire(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    calls = Calls()
    sched.add_job(calls, MINUTE, id="c", misfire_grace_time=10)
    with sched:
        clock.advance(minutes=5, seconds=5)  # latest fire 12:05 is 5 s late: within grace
        settle(sched)
    assert calls.count == 1
    assert events.of(JobMissed) == []


# -- jitter --------------------------------------------------------------------------------


def _start_times(jitter: float, fires: int = 5) -> list[timedelta]:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    started = Calls(lambda: clock.now() - current_job().scheduled_time)  # type: ignore[union-attr]
    sched.add_job(started, timedelta(minutes=10), id="jittery", jitter=jitter)
    with sched:
        clock.advance(minutes=10 * fires, seconds=jitter, scheduler=sched)
    return started.values


def test_jitter_delays_within_bounds_and_is_deterministic() -> None:
    first = _start_times(jitter=30)
    assert len(first) == 5
    assert all(timedelta(0) <= d <= timedelta(seconds=30) for d in first)
    assert len(set(first)) > 1  # a different delay per fire...
    assert _start_times(jitter=30) == first  # ...but the same in every process and run


def test_jitter_does_not_make_a_fire_late(sched: Scheduler, clock: VirtualClock) -> None:
    # a jittered fire is judged from its jittered start: a small grace is still on time
    calls = Calls()
    sched.add_job(calls, timedelta(minutes=10), id="j", jitter=300, misfire_grace_time=1)
    with sched:
        clock.advance(minutes=30, scheduler=sched)
    assert calls.count >= 2
    assert RunOutcome.MISSED not in [o for _, o in outcomes(sched, "j")]


# -- retries -------------------------------------------------------------------------------


def test_retry_succeeds_on_the_second_attempt(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        ctx = current_job()
        assert ctx is not None
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("try again")
        return "ok"

    sched.add_job(flaky, MINUTE, id="flaky", retries=3)
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        [retried] = events.wait_for(JobRetried)
        assert retried.delay == 1.0
        assert retried.attempt == 1
        assert retried.error == "ConnectionError: try again"
        clock.advance(seconds=1)  # the virtual backoff
        [ok] = events.wait_for(JobSucceeded)
        settle(sched)
    assert attempts == [1, 2]
    assert ok.attempt == 2
    [run] = sched.get_runs("flaky")
    assert (run.outcome, run.attempt, run.result) == (RunOutcome.SUCCEEDED, 2, "'ok'")


def test_retries_back_off_exponentially_then_fail(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    def always() -> None:
        raise RuntimeError(f"attempt {current_job().attempt}")  # type: ignore[union-attr]

    sched.add_job(always, MINUTE, id="always", retries=2)
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        events.wait_for(JobRetried, 1)
        clock.advance(seconds=1)
        events.wait_for(JobRetried, 2)
        clock.advance(seconds=2)
        [failed] = events.wait_for(JobFailed)
        settle(sched)
    assert [e.delay for e in events.of(JobRetried)] == [1.0, 2.0]
    assert [e.attempt for e in events.of(JobRetried)] == [1, 2]
    assert failed.attempt == 3
    assert failed.error == "RuntimeError: attempt 3"
    assert "RuntimeError" in failed.traceback
    [run] = sched.get_runs("always")
    assert (run.outcome, run.attempt) == (RunOutcome.FAILED, 3)
    # the history keeps the error line, then the end of the traceback (the dashboard's excerpt)
    first, *excerpt = (run.error or "").splitlines()
    assert first == "RuntimeError: attempt 3"
    assert excerpt[0] == "Traceback (most recent call last):"
    assert any("in always" in line for line in excerpt) and excerpt[-1] == first


def test_no_retries_fails_at_once(sched: Scheduler, clock: VirtualClock, events: Recorder) -> None:
    def boom() -> None:
        raise ValueError("no")

    sched.add_job(boom, MINUTE, id="boom")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    assert events.of(JobRetried) == []
    [run] = sched.get_runs("boom")
    assert (run.outcome, run.attempt) == (RunOutcome.FAILED, 1)
    assert (run.error or "").splitlines()[0] == "ValueError: no"


# -- timeout -------------------------------------------------------------------------------


def test_timeout_sets_cancel_event_and_records_timed_out(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    started = threading.Event()
    saw_cancel: list[bool] = []

    def patient() -> None:
        ctx = current_job()
        assert ctx is not None
        started.set()
        saw_cancel.append(ctx.cancel_event.wait(HANG))

    sched.add_job(patient, MINUTE, id="patient", timeout=5)
    with sched:
        clock.advance(minutes=1)
        wait(started, "the run to start")
        clock.advance(seconds=5)  # virtual: the heartbeat sees the deadline pass
        [timed_out] = events.wait_for(JobTimedOut)
        settle(sched)
    assert saw_cancel == [True]
    assert timed_out.timeout == 5
    assert timed_out.scheduled_time == T0 + MINUTE
    [run] = sched.get_runs("patient")
    assert run.outcome is RunOutcome.TIMED_OUT
    assert "timed out after 5.0 s" in (run.error or "")
    assert run.cancel_requested  # the timeout set its cancel_event (#9)
    assert events.of(JobSucceeded) == []
    assert events.of(JobFailed) == []


def test_run_within_its_timeout_succeeds(sched: Scheduler, clock: VirtualClock) -> None:
    sched.add_job(Calls(), MINUTE, id="quick", timeout=5)
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    assert [r.outcome for r in sched.get_runs("quick")] == [RunOutcome.SUCCEEDED]


# -- exceptions of every kind --------------------------------------------------------------


class CustomError(Exception):
    pass


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad"),
        CustomError("custom"),
        SystemExit(3),
        KeyboardInterrupt(),
        GeneratorExit(),
        MemoryError(),
        AssertionError("nope"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_any_exception_is_recorded_failed_and_the_ticker_lives(
    sched: Scheduler, clock: VirtualClock, events: Recorder, exc: BaseException
) -> None:
    def raiser() -> None:
        raise exc

    healthy = Calls()
    sched.add_job(raiser, MINUTE, id="raiser")
    sched.add_job(healthy, MINUTE, id="healthy")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        assert sched._ticker.alive
        clock.advance(minutes=1, scheduler=sched)  # the ticker still dispatches
        assert sched.running
    name = type(exc).__name__
    runs = sched.get_runs("raiser")
    assert [r.outcome for r in runs] == [RunOutcome.FAILED] * 2
    assert all((r.error or "").startswith(name) for r in runs)
    assert [e.error.split(":")[0] for e in events.of(JobFailed)] == [name, name]
    assert healthy.count == 2


def test_a_job_returning_an_unreprable_value_succeeds(
    sched: Scheduler, clock: VirtualClock
) -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    sched.add_job(Weird, MINUTE, id="weird")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    [run] = sched.get_runs("weird")
    assert run.outcome is RunOutcome.SUCCEEDED
    assert "Weird" in (run.result or "")


def test_long_results_are_shortened(sched: Scheduler, clock: VirtualClock) -> None:
    sched.add_job(lambda: "x" * 10_000, MINUTE, id="long")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    [run] = sched.get_runs("long")
    assert run.result is not None
    assert len(run.result) < 200


def test_interval_trigger_counts_from_registration(sched: Scheduler, clock: VirtualClock) -> None:
    clock.advance(seconds=17)
    calls = Calls(lambda: clock.now())
    sched.add_job(calls, Interval(minutes=1), id="i")
    with sched:
        clock.advance(minutes=2, scheduler=sched)
    assert calls.values == [T0 + timedelta(seconds=17) + m * MINUTE for m in (1, 2)]
