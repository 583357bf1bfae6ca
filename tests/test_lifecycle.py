"""The ticker's robustness and the scheduler's life: start, shutdown, run_forever, exit."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from scheduler import (
    Interval,
    Once,
    RunOutcome,
    Scheduler,
    SchedulerAlreadyRunning,
    Trigger,
    current_job,
)
from scheduler.events import SchedulerShutdown, SchedulerStarted
from scheduler.testing import VirtualClock, settle
from tests.core_support import HANG, START, Calls, Recorder, wait

T0 = datetime.fromisoformat(START)
MINUTE = timedelta(minutes=1)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def sched(clock: VirtualClock) -> Iterator[Scheduler]:
    s = Scheduler(clock=clock)
    yield s
    s.shutdown(timeout=1)


class BreakableTrigger(Trigger):
    """Every minute from T0, until a test breaks it: then next_after raises (a trigger bug)."""

    def __init__(self) -> None:
        self.inner = Interval(minutes=1, start=T0)
        self.broken = False

    def next_after(self, dt: datetime) -> datetime | None:
        if self.broken:
            raise RuntimeError("bug in a trigger")
        return self.inner.next_after(dt)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "breakable"}

    def describe(self) -> str:
        return "breakable"


# -- the ticker ----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["broken-first", "healthy-first"])
def test_error_in_ticker_code_is_logged_and_the_ticker_goes_on(
    sched: Scheduler, clock: VirtualClock, caplog: pytest.LogCaptureFixture, order: str
) -> None:
    trigger = BreakableTrigger()
    healthy = Calls()
    if order == "broken-first":
        sched.add_job(Calls(), trigger, id="broken")
        sched.add_job(healthy, Interval(minutes=1, start=T0), id="healthy")
    else:
        sched.add_job(healthy, Interval(minutes=1, start=T0), id="healthy")
        sched.add_job(Calls(), trigger, id="broken")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        trigger.broken = True
        with caplog.at_level(logging.ERROR, logger="scheduler"):
            clock.advance(minutes=3, scheduler=sched)
        assert sched._ticker.alive
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the trigger's error was not logged"
    assert any("bug in a trigger" in (r.exc_text or "") or r.exc_info for r in errors)
    # the job whose fire shared the failing pass is not lost
    assert healthy.count == 4


def test_adding_a_job_wakes_the_ticker(clock: VirtualClock) -> None:
    # with a one-hour tick the ticker would sleep through the fire unless add_job wakes it
    sched = Scheduler(clock=clock, tick=3600)
    ran = threading.Event()
    with sched:
        settle(sched)  # the ticker is now waiting on its long tick
        sched.add_job(ran.set, Once(T0 + timedelta(seconds=1)), id="soon")
        clock.advance(seconds=1)  # no scheduler=: nothing but the wake-up can catch it
        wait(ran, "the job added while the ticker slept")
        sched.shutdown(timeout=1)


def test_resuming_a_job_wakes_the_ticker(clock: VirtualClock) -> None:
    sched = Scheduler(clock=clock, tick=3600)
    ran = threading.Event()
    sched.add_job(ran.set, timedelta(seconds=1), id="r")
    sched.pause_job("r")
    with sched:
        settle(sched)
        sched.resume_job("r")
        clock.advance(seconds=1)
        wait(ran, "the resumed job")
        sched.shutdown(timeout=1)


def test_heap_holds_100k_jobs(clock: VirtualClock) -> None:
    sched = Scheduler(clock=clock)
    noop = Calls()
    with sched:
        for i in range(100_000):
            # j0 is due first, at T0+1s, then one job a second; none is due yet
            start = T0 + timedelta(seconds=100_000 - i)
            sched.add_job(noop, Interval(days=7, start=start), id=f"j{100_000 - i - 1}")
        assert len(sched.get_jobs()) == 100_000
        assert sched._ticker.next_due() == T0 + timedelta(seconds=1)
        first = min(j.next_run_time for j in sched.get_jobs())  # type: ignore[type-var]
        assert first == T0 + timedelta(seconds=1)
        sched.remove_job("j0")
        assert sched._ticker.next_due() == T0 + timedelta(seconds=2)
        clock.advance(seconds=2, scheduler=sched)
        assert noop.count == 1  # only j1 ran: j0 was removed, the rest are not due
        assert sched.get_job("j1").next_run_time == T0 + timedelta(days=7, seconds=2)
        sched.shutdown(timeout=1)


# -- start and shutdown --------------------------------------------------------------------


def test_start_twice_raises(sched: Scheduler) -> None:
    sched.start()
    with pytest.raises(SchedulerAlreadyRunning, match="running"):
        sched.start()


def test_start_after_shutdown_raises(sched: Scheduler) -> None:
    sched.start()
    sched.shutdown()
    with pytest.raises(SchedulerAlreadyRunning, match="shut down"):
        sched.start()


def test_shutdown_before_start(sched: Scheduler) -> None:
    assert sched.shutdown() is True
    assert sched.state == "shut down"
    assert sched.shutdown() is True


def test_shutdown_is_idempotent(sched: Scheduler) -> None:
    events = Recorder()
    sched.add_listener(events, events=[SchedulerShutdown])
    sched.start()
    assert sched.shutdown() is True
    assert sched.shutdown() is True
    assert sched.shutdown(wait=False) is True
    assert len(events.of(SchedulerShutdown)) == 1
    assert not sched._ticker.alive


def test_context_manager_starts_and_shuts_down(clock: VirtualClock) -> None:
    calls = Calls()
    with Scheduler(clock=clock) as sched:
        assert sched.running
        sched.add_job(calls, MINUTE, id="cm")
        clock.advance(minutes=1, scheduler=sched)
    assert sched.state == "shut down"
    assert calls.count == 1


def test_context_manager_shuts_down_on_error(clock: VirtualClock) -> None:
    sched = Scheduler(clock=clock)
    with pytest.raises(ZeroDivisionError), sched:
        1 / 0  # noqa: B018
    assert sched.state == "shut down"


def test_shutdown_with_a_job_honouring_cancel_event() -> None:
    sched = Scheduler()
    started = threading.Event()
    stopped = threading.Event()

    def cooperative() -> None:
        started.set()
        ctx = current_job()
        assert ctx is not None
        if ctx.cancel_event.wait(HANG):
            stopped.set()

    sched.add_job(cooperative, Once(datetime.now(timezone.utc) + timedelta(milliseconds=20)))
    sched.start()
    wait(started, "the cooperative job")
    assert sched.shutdown(timeout=HANG) is True
    assert stopped.is_set()
    [run] = sched.get_runs()
    assert run.outcome is RunOutcome.SUCCEEDED


def test_shutdown_with_a_job_ignoring_cancel_event(caplog: pytest.LogCaptureFixture) -> None:
    sched = Scheduler()
    events = Recorder()
    sched.add_listener(events, events=[SchedulerShutdown])
    started = threading.Event()
    release = threading.Event()

    def stubborn() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(
        stubborn, Once(datetime.now(timezone.utc) + timedelta(milliseconds=20)), id="stubborn"
    )
    sched.start()
    wait(started, "the stubborn job")
    try:
        with caplog.at_level(logging.WARNING, logger="scheduler"):
            assert sched.shutdown(timeout=0.2) is False
        # it returned while the job is still running: it did not wait for it
        assert not release.is_set()
        assert sched.state == "shut down"
        warnings = [r for r in caplog.records if "still running" in r.getMessage()]
        assert len(warnings) == 1
        assert "stubborn" in warnings[0].getMessage()
        assert warnings[0].still_running == ["stubborn"]  # type: ignore[attr-defined]
        [event] = events.of(SchedulerShutdown)
        assert (event.clean, event.still_running) == (False, ("stubborn",))
        assert sched.shutdown() is False  # idempotent: the same answer
    finally:
        release.set()


def test_shutdown_timeout_is_real_time_under_a_virtual_clock(
    sched: Scheduler, clock: VirtualClock
) -> None:
    # VirtualClock's monotonic time stands still, so a timeout measured on it never expires
    started, release = threading.Event(), threading.Event()

    def stubborn() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(stubborn, MINUTE, id="stubborn")
    sched.start()
    clock.advance(minutes=1)
    wait(started, "the stubborn job")
    try:
        assert sched.shutdown(timeout=0.05) is False
        assert not release.is_set()
    finally:
        release.set()


def test_shutdown_without_wait_returns_at_once(sched: Scheduler, clock: VirtualClock) -> None:
    started, release = threading.Event(), threading.Event()

    def stubborn() -> None:
        started.set()
        release.wait(HANG)

    sched.add_job(stubborn, MINUTE, id="stubborn")
    sched.start()
    clock.advance(minutes=1)
    wait(started, "the stubborn job")
    try:
        assert sched.shutdown(wait=False) is False
    finally:
        release.set()


def test_fires_after_shutdown_do_not_run(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    sched.add_job(calls, MINUTE, id="after")
    sched.start()
    clock.advance(minutes=1, scheduler=sched)
    sched.shutdown()
    clock.advance(minutes=10)
    assert calls.count == 1
    assert not sched._ticker.alive


def _run_script(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_process_exits_after_shutdown_with_a_job_ignoring_cancellation() -> None:
    result = _run_script(
        """
        import threading, time
        from datetime import datetime, timedelta, timezone
        from scheduler import Scheduler, Once

        started = threading.Event()

        def forever():
            started.set()
            while True:          # ignores cancel_event
                time.sleep(0.05)

        sched = Scheduler()
        sched.add_job(forever, Once(datetime.now(timezone.utc) + timedelta(milliseconds=20)))
        sched.start()
        assert started.wait(5)
        print("clean" if sched.shutdown(timeout=0.5) else "left behind", flush=True)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "left behind"


def test_process_exits_at_interpreter_exit_without_shutdown() -> None:
    # the atexit hook shuts the scheduler down; the stuck job must not hold the process
    result = _run_script(
        """
        import threading, time
        from datetime import datetime, timedelta, timezone
        from scheduler import Scheduler, Once

        started = threading.Event()

        def forever():
            started.set()
            while True:
                time.sleep(0.05)

        sched = Scheduler(shutdown_timeout=0.3)
        sched.add_job(forever, Once(datetime.now(timezone.utc) + timedelta(milliseconds=20)))
        sched.start()
        assert started.wait(5)
        print("exiting", flush=True)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exiting"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_forever_shuts_down_on_a_signal(sig: signal.Signals) -> None:
    code = textwrap.dedent(
        """
        import sys
        from scheduler import Scheduler
        from scheduler.events import SchedulerStarted

        sched = Scheduler()
        sched.add_job(print, "0 3 * * *", id="nightly")
        sched.add_listener(lambda e: print("started", flush=True), events=[SchedulerStarted])
        ok = sched.run_forever()
        print("stopped", ok, flush=True)
        sys.exit(0 if ok else 1)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped True"


def test_run_forever_returns_when_shut_down_from_another_thread(clock: VirtualClock) -> None:
    sched = Scheduler(clock=clock)
    events = Recorder()
    sched.add_listener(events, events=[SchedulerStarted])
    result: list[bool] = []
    runner = threading.Thread(target=lambda: result.append(sched.run_forever()))
    runner.start()
    events.wait_for(SchedulerStarted)
    assert sched.shutdown() is True
    runner.join(HANG)
    assert not runner.is_alive()
    assert result == [True]


def test_a_scheduler_per_test_leaves_no_threads_behind(clock: VirtualClock) -> None:
    before = {t.name for t in threading.enumerate()}
    sched = Scheduler(clock=clock)
    sched.add_job(Calls(), MINUTE, id="x")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        leftover = {
            t.name
            for t in threading.enumerate()
            if t.name.startswith(("scheduler-ticker", "scheduler-heartbeat"))
        } - before
        if not leftover:
            break
        time.sleep(0.01)  # polling thread exit, bounded by the hang guard
    assert not leftover
