"""Events for listeners, and log records with their structured ``extra`` fields."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from scheduler import ConfigurationError, Once, RunOutcome, Scheduler, current_job
from scheduler.events import (
    Event,
    JobAdded,
    JobFailed,
    JobMissed,
    JobRemoved,
    JobRetried,
    JobSkipped,
    JobStarted,
    JobSubmitted,
    JobSucceeded,
    JobTimedOut,
    RunEvent,
    SchedulerShutdown,
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
        timezone="Europe/Bratislava",
    )
    s.add_listener(events)
    yield s
    s.shutdown(timeout=1)


def fail() -> None:
    raise ValueError("broken")


# -- every kind ----------------------------------------------------------------------------


def test_lifecycle_and_run_events_in_order(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    sched.add_job(lambda: 42, MINUTE, id="ok")
    sched.start()
    clock.advance(minutes=1, scheduler=sched)
    sched.remove_job("ok")
    sched.shutdown()
    assert events.kinds() == [
        "JobAdded",
        "SchedulerStarted",
        "JobSubmitted",
        "JobStarted",
        "JobSucceeded",
        "JobRemoved",
        "SchedulerShutdown",
    ]
    fire = T0 + MINUTE
    submitted, started, succeeded = (
        events.of(JobSubmitted)[0],
        events.of(JobStarted)[0],
        events.of(JobSucceeded)[0],
    )
    for event in (submitted, started, succeeded):
        assert (event.job_id, event.scheduled_time, event.attempt) == ("ok", fire, 1)
        assert event.timestamp == fire  # virtual time: everything happens on the dot
    assert succeeded.result == "42"
    assert succeeded.duration >= 0
    [shutdown] = events.of(SchedulerShutdown)
    assert (shutdown.clean, shutdown.still_running) == (True, ())
    assert all(e.timestamp.tzinfo is not None for e in events.events)


def test_failed_event(sched: Scheduler, clock: VirtualClock, events: Recorder) -> None:
    sched.add_job(fail, MINUTE, id="fail")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    [failed] = events.of(JobFailed)
    assert failed.error == "ValueError: broken"
    assert "Traceback" in failed.traceback
    assert "raise ValueError" in failed.traceback
    assert events.of(JobSucceeded) == []


def test_retried_event(sched: Scheduler, clock: VirtualClock, events: Recorder) -> None:
    sched.add_job(fail, MINUTE, id="fail", retries=1)
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        [retried] = events.wait_for(JobRetried)
        clock.advance(seconds=1)
        events.wait_for(JobFailed)
    assert (retried.attempt, retried.delay, retried.error) == (1, 1.0, "ValueError: broken")
    assert [e.attempt for e in events.of(JobStarted)] == [1, 2]


def test_skipped_event(sched: Scheduler, clock: VirtualClock, events: Recorder) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(slow, MINUTE, id="slow")
    with sched:
        clock.advance(minutes=1)
        wait(started)
        clock.advance(minutes=1)
        [skipped] = events.wait_for(JobSkipped)
        release.set()
        settle(sched)
    assert skipped.scheduled_time == T0 + 2 * MINUTE
    assert "max_instances" in skipped.reason


def test_missed_event(sched: Scheduler, clock: VirtualClock, events: Recorder) -> None:
    sched.add_job(Calls(), timedelta(hours=1), id="late", misfire_grace_time=1)
    with sched:
        clock.advance(minutes=61)
        settle(sched)
    [missed] = events.of(JobMissed)
    assert missed.scheduled_time == T0 + timedelta(hours=1)
    assert "1 min late" in missed.reason


def test_timed_out_event(sched: Scheduler, clock: VirtualClock, events: Recorder) -> None:
    started = threading.Event()

    def patient() -> None:
        started.set()
        current_job().cancel_event.wait(HANG)  # type: ignore[union-attr]

    sched.add_job(patient, MINUTE, id="patient", timeout=2.5)
    with sched:
        clock.advance(minutes=1)
        wait(started)
        clock.advance(seconds=3)
        [timed_out] = events.wait_for(JobTimedOut)
        settle(sched)
    assert (timed_out.job_id, timed_out.timeout) == ("patient", 2.5)


def test_job_removed_when_a_once_job_is_done(
    sched: Scheduler, clock: VirtualClock, events: Recorder
) -> None:
    sched.add_job(Calls(), Once(T0 + MINUTE), id="once")
    with sched:
        clock.advance(minutes=2, scheduler=sched)
    assert [e.job_id for e in events.of(JobRemoved)] == ["once"]


def test_events_are_frozen(sched: Scheduler, events: Recorder) -> None:
    sched.add_job(Calls(), MINUTE, id="x")
    [added] = events.of(JobAdded)
    with pytest.raises(AttributeError):
        added.job_id = "y"  # type: ignore[misc]


# -- listeners -----------------------------------------------------------------------------


def test_events_filter(sched: Scheduler, clock: VirtualClock) -> None:
    only_failures = Recorder()
    runs = Recorder()
    sched.add_listener(only_failures, events=[JobFailed])
    sched.add_listener(runs, events=[RunEvent])
    sched.add_job(fail, MINUTE, id="fail")
    sched.add_job(Calls(), MINUTE, id="ok")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    assert only_failures.kinds() == ["JobFailed"]
    assert set(runs.kinds()) == {"JobSubmitted", "JobStarted", "JobSucceeded", "JobFailed"}


def test_a_raising_listener_is_logged_once_and_breaks_nothing(
    sched: Scheduler, clock: VirtualClock, events: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def bad(event: Event) -> None:
        raise RuntimeError("listener bug")

    sched.add_listener(bad)
    after = Recorder()
    sched.add_listener(after)  # registered after the bad one: still called
    calls = Calls()
    with caplog.at_level(logging.ERROR, logger="scheduler"):
        sched.add_job(calls, MINUTE, id="j")
        with sched:
            clock.advance(minutes=3, scheduler=sched)
    assert calls.count == 3
    assert [r.outcome for r in sched.get_runs("j")] == [RunOutcome.SUCCEEDED] * 3
    assert after.kinds() == events.kinds()
    assert "SchedulerShutdown" in after.kinds()
    logged = [r for r in caplog.records if "listener" in r.getMessage()]
    assert len(logged) == 1
    assert "raised on JobAdded" in logged[0].getMessage()
    assert logged[0].exc_info is not None


def test_listener_raising_base_exception_does_not_stop_runs(
    sched: Scheduler, clock: VirtualClock
) -> None:
    def exits(event: Event) -> None:
        raise SystemExit(1)

    sched.add_listener(exits, events=[JobStarted])
    calls = Calls()
    sched.add_job(calls, MINUTE, id="j")
    with sched:
        clock.advance(minutes=2, scheduler=sched)
        assert sched._ticker.alive
    assert calls.count == 2


def test_remove_listener(sched: Scheduler, clock: VirtualClock) -> None:
    extra = Recorder()
    sched.add_listener(extra)
    sched.remove_listener(extra)
    sched.add_job(Calls(), MINUTE, id="j")
    assert extra.events == []


@pytest.mark.parametrize(
    ("callback", "kinds"),
    [(None, None), ("not callable", None), (print, [str]), (print, ["JobFailed"])],
)
def test_bad_listener_arguments(sched: Scheduler, callback: object, kinds: object) -> None:
    with pytest.raises(ConfigurationError):
        sched.add_listener(callback, events=kinds)  # type: ignore[arg-type]


# -- logging -------------------------------------------------------------------------------


def _records(caplog: pytest.LogCaptureFixture, needle: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if needle in r.getMessage()]


def test_start_and_end_records_carry_extra_fields(
    sched: Scheduler, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    def report() -> str:
        return "done"

    sched.add_job(report, "*/5 * * * *", id="report")
    with caplog.at_level(logging.INFO, logger="scheduler"), sched:
        clock.advance(minutes=5, scheduler=sched)
    [start] = _records(caplog, "started: scheduled")
    assert start.name == "scheduler"
    assert start.levelno == logging.INFO
    assert start.job_id == "report"  # type: ignore[attr-defined]
    assert start.job_name == "report"  # type: ignore[attr-defined]
    assert start.scheduled_time == "2026-03-02T12:05:00+00:00"  # type: ignore[attr-defined]
    assert start.timezone == "Europe/Bratislava"  # type: ignore[attr-defined]
    assert start.attempt == 1  # type: ignore[attr-defined]
    msg = start.getMessage()
    assert "report" in msg and "13:05:00+01:00" in msg and "Europe/Bratislava" in msg
    [end] = _records(caplog, "succeeded in")
    assert end.outcome == "succeeded"  # type: ignore[attr-defined]
    assert end.result == "'done'"  # type: ignore[attr-defined]
    assert end.duration >= 0  # type: ignore[attr-defined]
    assert end.job_id == "report"  # type: ignore[attr-defined]
    assert "'done'" in end.getMessage()
    assert _records(caplog, "scheduler started")
    assert _records(caplog, "scheduler shut down (clean)")


def test_failure_record_has_traceback_and_extra(
    sched: Scheduler, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    sched.add_job(fail, MINUTE, id="fail")
    with caplog.at_level(logging.INFO, logger="scheduler"), sched:
        clock.advance(minutes=1, scheduler=sched)
    [record] = _records(caplog, "failed after")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert record.outcome == "failed"  # type: ignore[attr-defined]
    assert record.error == "ValueError: broken"  # type: ignore[attr-defined]
    assert record.job_id == "fail"  # type: ignore[attr-defined]
    assert "ValueError: broken" in record.getMessage()


def test_skipped_and_missed_records(
    sched: Scheduler, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(slow, MINUTE, id="slow")
    sched.add_job(Calls(), timedelta(hours=1), id="late", misfire_grace_time=1)
    with caplog.at_level(logging.INFO, logger="scheduler"), sched:
        clock.advance(minutes=1)
        wait(started)
        clock.advance(minutes=1)
        deadline = threading.Event()
        sched.add_listener(lambda e: deadline.set(), events=[JobSkipped])
        wait(deadline, "the skip")
        release.set()
        settle(sched)
        clock.advance(minutes=59, seconds=30)
        settle(sched)
    [skipped] = _records(caplog, "slow skipped")
    assert skipped.levelno == logging.WARNING
    assert skipped.outcome == "skipped"  # type: ignore[attr-defined]
    assert skipped.job_id == "slow"  # type: ignore[attr-defined]
    assert "max_instances" in skipped.reason  # type: ignore[attr-defined]
    [missed] = _records(caplog, "late missed")
    assert missed.levelno == logging.WARNING
    assert missed.outcome == "missed"  # type: ignore[attr-defined]
    assert missed.scheduled_time == "2026-03-02T13:00:00+00:00"  # type: ignore[attr-defined]
    assert "misfire_grace_time" in missed.reason  # type: ignore[attr-defined]


def test_timeout_record(
    sched: Scheduler, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    started = threading.Event()

    def patient() -> None:
        started.set()
        current_job().cancel_event.wait(HANG)  # type: ignore[union-attr]

    sched.add_job(patient, MINUTE, id="patient", timeout=1)
    timed_out = threading.Event()
    sched.add_listener(lambda e: timed_out.set(), events=[JobTimedOut])
    with caplog.at_level(logging.INFO, logger="scheduler"), sched:
        clock.advance(minutes=1)
        wait(started)
        clock.advance(seconds=1)
        wait(timed_out)
        settle(sched)
    [record] = _records(caplog, "timed out after")
    assert record.outcome == "timed_out"  # type: ignore[attr-defined]
    assert "cannot be killed" in record.getMessage()


class BrokenHandler(logging.Handler):
    def handle(self, record: logging.LogRecord) -> bool:  # logging only guards emit()
        raise RuntimeError("handler is broken")


class BrokenFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        raise RuntimeError("formatter is broken")


@pytest.mark.parametrize("broken", ["handle", "formatter"])
def test_a_broken_log_handler_does_not_break_runs(
    sched: Scheduler, clock: VirtualClock, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    if broken == "handle":
        handler: logging.Handler = BrokenHandler()
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(BrokenFormatter())
    logger = logging.getLogger("scheduler")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        sched.add_job(Calls(), MINUTE, id="ok")
        sched.add_job(fail, MINUTE, id="fail")
        with sched:
            clock.advance(minutes=2, scheduler=sched)
            assert sched._ticker.alive
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert [r.outcome for r in sched.get_runs("ok")] == [RunOutcome.SUCCEEDED] * 2
    assert [r.outcome for r in sched.get_runs("fail")] == [RunOutcome.FAILED] * 2
