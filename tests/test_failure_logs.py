"""A job that keeps failing does not flood the log (issue 10, item 10).

A job failing every second wrote its full traceback each time (1,772 lines in two minutes).
Now the first failure of a streak logs the traceback, each further failure one line with the
count, and the first success after them one line saying the streak ended. Each failure is
still in the run history and in ``JobFailed.traceback``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from scheduler import Scheduler
from scheduler.events import JobFailed
from scheduler.stores import RunOutcome
from scheduler.testing import VirtualClock

from .core_support import START, Recorder

# what the job does on each call, in order
SCRIPT = ["fail", "fail", "fail", "fail", "fail", "ok", "fail", "fail", "other", "other", "ok"]


class Flaky:
    def __init__(self) -> None:
        self.calls = 0
        self.__name__ = self.__qualname__ = "flaky"

    def __call__(self) -> str:
        step = SCRIPT[self.calls]
        self.calls += 1
        if step == "fail":
            raise ValueError(f"upstream said no (call {self.calls})")
        if step == "other":
            raise KeyError("missing")
        return "ok"


def test_a_failing_streak_logs_one_traceback_then_a_line_per_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler")
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    events = Recorder()
    sched.add_listener(events, [JobFailed])
    sched.add_job(Flaky(), timedelta(seconds=1), id="flaky")
    with sched:
        clock.advance(len(SCRIPT), scheduler=sched)
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == SCRIPT.count("fail") + SCRIPT.count("other")
    # a traceback for the first of each streak, and for a new kind of error within one
    assert [bool(r.exc_info) for r in failures] == [
        True, False, False, False, False,  # five ValueErrors
        True, False, True, False,  # two ValueErrors, then two KeyErrors
    ]  # fmt: skip
    assert [getattr(r, "failures", None) for r in failures] == [1, 2, 3, 4, 5, 1, 2, 3, 4]
    assert "failed again" in failures[1].getMessage()
    assert "(5 failures in a row; traceback logged at the first)" in failures[4].getMessage()
    assert "upstream said no (call 5)" in failures[4].getMessage()
    recovered = [r.getMessage() for r in caplog.records if "succeeded again" in r.getMessage()]
    assert recovered == [
        "job flaky succeeded again after 5 failures in a row",
        "job flaky succeeded again after 4 failures in a row",
    ]
    # nothing is lost where the full story is kept
    runs = sorted(sched.get_runs("flaky"), key=lambda r: r.scheduled_time)
    assert [r.outcome for r in runs] == [
        RunOutcome.SUCCEEDED if step == "ok" else RunOutcome.FAILED for step in SCRIPT
    ]
    assert all(r.error for r in runs if r.outcome is RunOutcome.FAILED)
    tracebacks = [e.traceback for e in events.of(JobFailed)]
    assert len(tracebacks) == 9 and all("Traceback" in tb for tb in tracebacks)
