"""Test helpers for code that uses the scheduler: time that moves only when you say so.

::

    from scheduler import Scheduler
    from scheduler.testing import VirtualClock

    def test_nightly_report_runs_at_three():
        clock = VirtualClock("2026-03-28T12:00:00+00:00")
        sched = Scheduler(timezone="Europe/Bratislava", clock=clock)
        sched.add_job(report, "0 3 * * *")
        with sched:
            clock.advance(hours=24, scheduler=sched)   # runs every fire on time, in order
        assert report_was_sent()

:class:`VirtualClock` replaces the scheduler's clock: wall time and the monotonic clock move
only on :meth:`VirtualClock.advance` (or :meth:`VirtualClock.jump`, which moves the wall clock
alone, like an NTP step). :func:`settle` runs whatever is due and waits until the pool is idle.
Nothing here patches ``datetime``, so it works beside freezegun.

These helpers drive the scheduler's pieces through the methods they offer (the ticker's
:meth:`next_due` and fresh-pass wait, the runner's live runs and pending count), obtained
from :func:`scheduler.scheduler.pieces_of`; they take none of the pieces' locks.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ._clock import Clock

if TYPE_CHECKING:
    from ._pieces import Pieces
    from .scheduler import Scheduler

__all__ = ["VirtualClock", "settle"]

_POLL = 0.002  # how often a virtual wait looks at its event (real seconds)
_SETTLE_POLL = 0.001  # how often settle() looks whether the pool went idle (real seconds)


def _parse(value: datetime | str | None) -> datetime:
    if value is None:
        return datetime(2026, 1, 1, tzinfo=timezone.utc)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError(f"VirtualClock needs an aware start time, got {value!r}")
    return value.astimezone(timezone.utc)


class VirtualClock(Clock):
    """A clock whose time moves only when a test moves it (like trio's MockClock)."""

    def __init__(self, start: datetime | str | None = None) -> None:
        self._now = _parse(start)
        self._mono = 1000.0
        self._cond = threading.Condition()
        #: threads parked in sleep() (a retry backoff): idle as far as settle() is concerned
        self.sleepers = 0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout is None:
            while not event.wait(_POLL):
                pass
            return True
        deadline = self._mono + timeout
        while True:
            if event.is_set():
                return True
            with self._cond:
                if self._mono >= deadline:
                    return event.is_set()
                self._cond.wait(_POLL)

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        with self._cond:
            self.sleepers += 1
        try:
            return self.wait(cancel or threading.Event(), max(0.0, seconds))
        finally:
            with self._cond:
                self.sleepers -= 1

    def _move(self, wall: timedelta, mono: float) -> None:
        with self._cond:
            self._now += wall
            self._mono += mono
            self._cond.notify_all()

    def advance(
        self,
        seconds: float = 0.0,
        *,
        minutes: float = 0.0,
        hours: float = 0.0,
        days: float = 0.0,
        scheduler: Scheduler | None = None,
        wait: bool = True,
    ) -> datetime:
        """Move time forward.

        With ``scheduler``, time passes as it does for real: it stops at every fire on the way
        so each runs on time and in order, and at least every third of ``lease_seconds`` so
        that the heartbeat renews the leases of running jobs (and at their deadlines); then it
        settles (:func:`settle`).
        With ``wait=False`` it does not wait for jobs that are running (a job blocked on
        something the test releases later), only for the fires to be dispatched.
        Without ``scheduler``, time jumps: as if the process had been frozen (leases may
        expire, fires come due late). Returns the new time.
        """
        step = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if step < timedelta(0):
            raise ValueError("time only moves forward; use jump() for a wall-clock step back")
        target = self._now + step
        if scheduler is not None:
            beat = timedelta(seconds=scheduler.lease_seconds / 3)
            settle(scheduler, wait_for_runs=wait)
            while self._now < target:
                pieces = _pieces(scheduler)
                live = pieces.runner.live_runs()
                # Runs under way hold leases: move in beats so the heartbeat renews them.
                stop = min(target, self._now + beat) if live else target
                due = pieces.ticker.next_due()
                if due is not None and due < stop:
                    stop = max(due, self._now)
                deadlines = [r.deadline for r in live if r.deadline is not None and not r.timed_out]
                if deadlines:
                    at = self._now + timedelta(seconds=max(0.0, min(deadlines) - self._mono))
                    stop = min(stop, at)
                delta = stop - self._now
                self._move(delta, delta.total_seconds())
                if live:
                    _heartbeat_pass(scheduler)
                settle(scheduler, wait_for_runs=wait)
                if due is None and not live and self._now >= target:
                    break
        delta = target - self._now
        if delta > timedelta(0):
            self._move(delta, delta.total_seconds())
        if scheduler is not None:
            settle(scheduler, wait_for_runs=wait)
        return self._now

    def jump(self, seconds: float) -> datetime:
        """Step the wall clock alone (NTP correction, a VM resumed): monotonic time stays."""
        self._move(timedelta(seconds=seconds), 0.0)
        return self._now

    def set(self, when: datetime | str) -> datetime:
        """Set the wall clock (forward or back); monotonic time moves by the same amount
        when forward."""
        when = _parse(when)
        delta = when - self._now
        self._move(delta, max(0.0, delta.total_seconds()))
        return self._now


def _pieces(scheduler: Scheduler) -> Pieces:
    from .scheduler import pieces_of

    return pieces_of(scheduler)


def _heartbeat_pass(scheduler: Scheduler, timeout: float = 10.0) -> None:
    """Wait until the heartbeat has completed a pass that began after the clock moved, so
    the leases of running jobs are renewed (or their deadlines noticed)."""
    _pieces(scheduler).heartbeat.wait_for_fresh_pass(time.monotonic() + timeout)


def settle(scheduler: Scheduler, timeout: float = 10.0, *, wait_for_runs: bool = True) -> None:
    """Let the ticker dispatch everything due now and wait until the pool is idle (runs
    parked in a virtual retry backoff count as idle; with ``wait_for_runs=False`` so do runs
    whose job is executing).

    :raises TimeoutError: still busy after ``timeout`` real seconds (a job that blocks)
    """
    pieces = _pieces(scheduler)
    ticker, runner = pieces.ticker, pieces.runner
    clock = scheduler.clock
    deadline = time.monotonic() + timeout
    while True:
        ticker.wait_for_fresh_pass(deadline)  # a pass that surely saw the new time
        # runs parked in a virtual retry backoff are idle
        while runner.pending(count_running=wait_for_runs) > getattr(clock, "sleepers", 0):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{runner.inflight} fires still running after {timeout}s")
            time.sleep(min(left, _SETTLE_POLL))
        due = ticker.next_due()
        if due is None or due > pieces.now():
            return
