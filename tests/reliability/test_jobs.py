"""Job faults (scenarios 18-20, 25): whatever a job or a callback does, the fire is recorded
once with its outcome, the ticker stays alive and shutdown returns within its timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from scheduler import Interval, Once, Scheduler, current_job
from scheduler.events import (
    JobSkipped,
    JobStarted,
    JobSubmitted,
    JobSucceeded,
    JobTimedOut,
    SchedulerShutdown,
)
from scheduler.testing import VirtualClock, settle

from .faults import check_history

T0 = "2026-03-02T12:00:00+00:00"
MINUTE = Interval(seconds=60)


def virtual(**options: object) -> tuple[Scheduler, VirtualClock]:
    clock = VirtualClock(T0)
    return Scheduler(clock=clock, **options), clock  # type: ignore[arg-type]


def runs_of(sched: Scheduler, job_id: str | None = None) -> list:
    return sched.get_runs(job_id, limit=100_000)


def assert_healthy(sched: Scheduler, timeout: float = 2.0) -> None:
    """The closing checks of every scenario: ticker alive, history complete, clean stop."""
    assert sched._ticker.alive, "the ticker thread died"
    check_history(runs_of(sched))
    assert sched.shutdown(timeout=timeout) is True  # every run ended within the timeout
    assert sched.state == "shut down"
    assert not sched._ticker.alive and not sched._heartbeat.alive


def test_job_that_raises_is_recorded_failed_and_the_next_fire_runs() -> None:
    sched, clock = virtual()

    def boom() -> None:
        raise ValueError("boom")

    sched.add_job(boom, MINUTE, id="boom")
    with sched:
        clock.advance(minutes=3, scheduler=sched)
        runs = runs_of(sched, "boom")
        assert [str(r.outcome) for r in runs] == ["failed"] * 3
        assert all((r.error or "").splitlines()[0] == "ValueError: boom" for r in runs)
        assert_healthy(sched)


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()],
                         ids=["SystemExit", "KeyboardInterrupt", "GeneratorExit"])
def test_job_raising_base_exceptions_is_recorded_failed_with_the_type(
    exc: BaseException,
) -> None:
    sched, clock = virtual(max_workers=1)  # one worker: it must survive every raise
    done: list[str] = []

    def hostile() -> None:
        raise exc

    sched.add_job(hostile, MINUTE, id="hostile")
    sched.add_job(lambda: done.append("x"), MINUTE, id="bystander")
    with sched:
        clock.advance(minutes=2, scheduler=sched)
        runs = runs_of(sched, "hostile")
        assert [str(r.outcome) for r in runs] == ["failed"] * 2
        assert all(r.error is not None and r.error.startswith(type(exc).__name__) for r in runs)
        assert done == ["x", "x"]
        assert_healthy(sched)


def test_timeout_records_timed_out_at_the_deadline_and_holds_the_slot() -> None:
    """Scenario 20: the cancel_event and JobTimedOut come at the deadline; the slot stays
    taken (the next fire is skipped) until the thread ends; the outcome is timed_out."""
    # virtual time jumps 55 s at once below: a lease longer than that keeps the heartbeat's
    # renewal from racing the reaper (leases are not what this test is about)
    sched, clock = virtual(lease_seconds=600)
    started, release = threading.Event(), threading.Event()
    timed_out: list[JobTimedOut] = []
    skipped = threading.Event()

    def stubborn() -> None:
        started.set()
        release.wait(30)  # ignores cancel_event until the test lets it go

    sched.add_listener(timed_out.append, [JobTimedOut])
    sched.add_listener(lambda e: skipped.set(), [JobSkipped])
    sched.add_job(stubborn, MINUTE, id="stubborn", timeout=5)
    with sched:
        clock.advance(60)
        sched._ticker.wake()
        assert started.wait(10)
        clock.advance(5)
        deadline = time.monotonic() + 10
        while not timed_out and time.monotonic() < deadline:
            time.sleep(0.005)  # the heartbeat notices the virtual deadline (hang guard)
        assert len(timed_out) == 1
        assert timed_out[0].timestamp == clock.now()  # at the deadline, not later
        clock.advance(55)  # the next fire: max_instances=1 and the slot is still held
        sched._ticker.wake()
        assert skipped.wait(10)
        release.set()
        settle(sched)
        outcomes = [str(r.outcome) for r in reversed(runs_of(sched, "stubborn"))]
        assert outcomes == ["timed_out", "skipped"]
        assert_healthy(sched)


def test_job_that_ignores_cancel_does_not_hold_up_shutdown() -> None:
    """Scenario 19 in one process (the process-exit half is in test_processes). Ordering,
    not timing: the job kept looping after cancel_event was set, shutdown waited through
    some of those loops, then gave up and returned while the job was still looping."""
    sched = Scheduler(shutdown_timeout=30)
    started = threading.Event()
    shutdowns: list[SchedulerShutdown] = []
    sched.add_listener(shutdowns.append, [SchedulerShutdown])
    trace: list[str] = []  # list.append is atomic: one timeline of both threads
    stop_looping = threading.Event()

    def forever() -> None:
        ctx = current_job()
        assert ctx is not None
        started.set()
        while not stop_looping.is_set():  # never looks at cancel_event (the test ends it)
            trace.append("loop, cancelled" if ctx.cancel_event.is_set() else "loop")
            time.sleep(0.05)

    sched.add_job(forever, Interval(seconds=0.05), id="forever")
    sched.start()
    assert started.wait(10)
    try:
        trace.append("shutdown called")
        assert sched.shutdown(timeout=2) is False
        trace.append("shutdown returned")
        called, returned = trace.index("shutdown called"), trace.index("shutdown returned")
        assert "loop, cancelled" in trace[called:returned], "shutdown did not wait at all"
        n = len(trace)
        deadline = time.monotonic() + 10
        while len(trace) == n and time.monotonic() < deadline:
            time.sleep(0.01)  # hang guard: the job is still looping after shutdown returned
        assert trace[n:] and trace[n] == "loop, cancelled"
    finally:
        stop_looping.set()
    assert shutdowns[0].still_running == ("forever",)
    assert sched.state == "shut down"


def test_shutdown_timeout_is_real_time_with_a_virtual_clock() -> None:
    """shutdown(timeout) counts real seconds even when the scheduler's clock is virtual."""
    sched, clock = virtual()
    started, release = threading.Event(), threading.Event()

    def stubborn() -> None:
        started.set()
        release.wait(60)

    sched.add_job(stubborn, MINUTE, id="stubborn")
    sched.start()
    clock.advance(60)
    sched._ticker.wake()
    assert started.wait(10)
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(sched.shutdown(timeout=1)))
    stopper.start()
    stopper.join(5)  # hang guard: 1 s is promised
    returned = not stopper.is_alive()
    release.set()
    clock.advance(120)  # unblock a shutdown stuck on virtual time
    stopper.join(10)
    assert returned and result == [False]


def test_huge_result_is_recorded_short() -> None:
    sched, clock = virtual()
    sched.add_job(lambda: "x" * 20_000_000, MINUTE, id="huge")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        (run,) = runs_of(sched, "huge")
        assert str(run.outcome) == "succeeded"
        assert run.result is not None and len(run.result) <= 200
        assert_healthy(sched)


class Broken(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("handler is broken")

    def handle(self, record: logging.LogRecord) -> bool:  # no handleError() guard at all
        self.emit(record)
        return True


def test_broken_log_handler_is_reported_once_and_ignored(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import scheduler._log as slog

    slog._reported = False  # another test may have used up the one report
    broken = Broken()
    app_log = logging.getLogger("app.reliability")
    logger = logging.getLogger("scheduler")
    logger.addHandler(broken)
    app_log.addHandler(broken)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        sched, clock = virtual()

        def quiet() -> str:
            return "fine"

        def chatty() -> None:
            app_log.error("a job logging through a broken handler")

        sched.add_job(quiet, MINUTE, id="quiet")
        sched.add_job(chatty, MINUTE, id="chatty")
        with sched:
            clock.advance(minutes=3, scheduler=sched)
            assert [str(r.outcome) for r in runs_of(sched, "quiet")] == ["succeeded"] * 3
            # the job's own logging raised inside the job: that is the job's failure
            chatty_runs = runs_of(sched, "chatty")
            assert [str(r.outcome) for r in chatty_runs] == ["failed"] * 3
            assert "handler is broken" in (chatty_runs[0].error or "")
            assert_healthy(sched)
    finally:
        logger.removeHandler(broken)
        app_log.removeHandler(broken)
        logger.setLevel(old_level)
    err = capfd.readouterr().err
    assert err.count("a logging handler raised") == 1, err


def test_raising_listener_is_reported_once_and_ignored(sched_log) -> None:
    sched, clock = virtual()
    calls = Counter[str]()

    def listener(event: object) -> None:
        calls[type(event).__name__] += 1
        raise RuntimeError("listener is broken")

    sched.add_listener(listener)
    sched.add_job(lambda: None, MINUTE, id="j")
    with sched:
        clock.advance(minutes=3, scheduler=sched)
        assert [str(r.outcome) for r in runs_of(sched, "j")] == ["succeeded"] * 3
        assert calls["JobSucceeded"] == 3
        assert len(sched_log.messages(logging.ERROR, "listener")) == 1
        assert_healthy(sched)


@pytest.mark.parametrize("exc", [SystemExit, KeyboardInterrupt])
def test_listener_raising_base_exception_does_not_kill_the_ticker(
    exc: type[BaseException],
) -> None:
    """SystemExit/KeyboardInterrupt from a listener on a background thread is reported and
    ignored like any other listener error."""
    sched, clock = virtual()

    def listener(event: object) -> None:
        raise exc()

    sched.add_job(lambda: None, MINUTE, id="j")
    sched.start()
    # background events only: raised in the caller's own thread (add_job, start) it is the
    # caller's to handle
    sched.add_listener(listener, [JobSubmitted, JobStarted, JobSucceeded])
    try:
        clock.advance(60)
        try:
            settle(sched, timeout=3)
        except TimeoutError:
            pass
        assert sched._ticker.alive
        clock.advance(minutes=2, scheduler=sched)
        assert [str(r.outcome) for r in runs_of(sched, "j")] == ["succeeded"] * 3
    finally:
        sched.shutdown(timeout=2)


def test_job_that_adds_and_removes_jobs_while_running() -> None:
    sched, clock = virtual()
    ran: list[str] = []

    def child() -> None:
        ctx = current_job()
        assert ctx is not None
        ran.append(ctx.job_id)

    def victim() -> None:
        ran.append("victim")

    def manager() -> None:
        n = ran.count("manager")
        ran.append("manager")
        if "victim" in {j.id for j in sched.get_jobs()}:
            sched.remove_job("victim")
        sched.add_job(child, Once(clock.now() + timedelta(seconds=30)), id=f"child-{n}")
        sched.add_job(victim, MINUTE, id=f"gone-{n}")
        sched.remove_job(f"gone-{n}")

    sched.add_job(manager, MINUTE, id="manager")
    sched.add_job(victim, Interval(seconds=90), id="victim")
    with sched:
        clock.advance(minutes=3, scheduler=sched)
        assert ran.count("manager") == 3
        assert sorted(r for r in ran if r.startswith("child")) == ["child-0", "child-1"]
        assert "victim" not in ran  # removed before its first fire (at +90 s)
        assert {j.id for j in sched.get_jobs()} == {"manager", "child-2"}
        assert_healthy(sched)


@pytest.mark.parametrize("how", ["re-add after a one-off finished", "replace_existing"])
def test_job_id_added_again_while_running_fires(how: str) -> None:
    sched, clock = virtual()
    ran: list[str] = []
    sched.add_job(lambda: ran.append("first"), Once(clock.now() + timedelta(seconds=30)),
                  id="again")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        assert ran == ["first"]
        if how == "replace_existing":
            sched.add_job(lambda: ran.append("first"), MINUTE, id="again2")
            clock.advance(minutes=1, scheduler=sched)
            sched.add_job(lambda: ran.append("second"), Interval(seconds=30), id="again2",
                          replace_existing=True)
        else:
            sched.add_job(lambda: ran.append("second"), Once(clock.now() + timedelta(seconds=30)),
                          id="again")
        clock.advance(minutes=1, scheduler=sched)
        assert "second" in ran
        sched.shutdown(timeout=2)


def test_a_thousand_jobs_failing_at_once() -> None:
    sched, clock = virtual()
    logging.getLogger("scheduler").setLevel(logging.CRITICAL)  # 1,000 tracebacks: not here
    try:

        def fail(n: int) -> None:
            raise RuntimeError(f"job {n} failed")

        for n in range(1000):
            sched.add_job(fail, MINUTE, id=f"fail-{n}", args=(n,))
        with sched:
            clock.advance(60)
            settle(sched, timeout=120)  # a hang guard; how long it takes is not asserted
            runs = runs_of(sched)
            outcomes = check_history(runs)
            assert outcomes == {"failed": 1000}
            assert {r.job_id for r in runs} == {f"fail-{n}" for n in range(1000)}
            assert sched._pool.threads <= sched.max_workers
            clock.advance(minutes=1, scheduler=sched)  # and the next minute comes round
            assert check_history(runs_of(sched)) == {"failed": 2000}
            assert_healthy(sched, timeout=5)
    finally:
        logging.getLogger("scheduler").setLevel(logging.NOTSET)
