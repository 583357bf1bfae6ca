"""Time faults (scenarios 11-13) and daylight saving: wall-clock steps through the clock seam,
an instance whose clock runs fast, the DST days of several zones and local times that do not
exist or exist twice."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler import Cron, Interval, Once, Scheduler
from scheduler._clock import SystemClock
from scheduler.testing import VirtualClock, settle

from .faults import check_history, wait_until

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
UTC = timezone.utc


def runs(sched: Scheduler, job_id: str | None = None) -> list[Any]:
    return sorted(sched.get_runs(job_id, limit=100_000), key=lambda r: r.scheduled_time)


def ticker_parked(sched: Scheduler) -> bool:
    """Whether the ticker, woken with virtual time standing still, makes one pass and parks
    until time moves: its next wait has a timeout that virtual time has not yet reached. A
    busy loop would wait with nothing left to wait (a deadline already past). No real-time
    rate is measured: the check is on the wait the ticker asks for."""
    clock = sched.clock
    assert isinstance(clock, VirtualClock)
    ticker = sched._ticker._thread
    asked: list[float | None] = []
    asking = threading.Event()

    def spy(event: threading.Event, timeout: float | None) -> bool:
        if threading.current_thread() is ticker and not asking.is_set():
            asked.append(timeout)
            asking.set()
        return VirtualClock.wait(clock, event, timeout)

    clock.wait = spy  # type: ignore[method-assign]
    try:
        sched._ticker.wake()
        assert asking.wait(10), "the ticker did not make a pass (hang guard)"
    finally:
        del clock.wait
    return asked[0] is None or asked[0] > 0


def test_wall_clock_jumps_forward_one_hour_coalesced() -> None:
    """Scenario 11 with the default policy: one catch-up run folding the overdue fires."""
    clock = VirtualClock(T0)
    sched = Scheduler(clock=clock)
    sched.add_job(lambda: None, Interval(seconds=60), id="minutely")
    with sched:
        clock.advance(minutes=2, scheduler=sched)
        clock.jump(3600)
        settle(sched)
        history = runs(sched)
        assert [r.scheduled_time for r in history] == [
            T0 + timedelta(minutes=1),
            T0 + timedelta(minutes=2),
            T0 + timedelta(minutes=62),  # the latest overdue fire, run once
        ]
        assert history[-1].coalesced == 59  # the 59 it folded are accounted for
        assert sum(1 + r.coalesced for r in history) == 62
        assert ticker_parked(sched)
        clock.advance(minutes=1, scheduler=sched)  # and the schedule goes on from there
        assert runs(sched)[-1].scheduled_time == T0 + timedelta(minutes=63)
        check_history(runs(sched))
        assert sched.shutdown(timeout=2)


def test_wall_clock_jumps_forward_one_hour_without_coalesce() -> None:
    """Scenario 11, coalesce off: every overdue fire gets its own record, run if within
    misfire_grace_time (judged when it would start), else missed; no burst beyond that."""
    clock = VirtualClock(T0)
    sched = Scheduler(clock=clock)
    sched.add_job(lambda: None, Interval(seconds=60), id="each", coalesce=False,
                  misfire_grace_time=300)
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        clock.jump(3600)
        settle(sched)
        history = runs(sched)
        outcomes = check_history(history)
        assert len(history) == 61  # fires at +1 .. +61 min, each exactly once
        now = clock.now()
        late = [r for r in history[1:] if (now - r.scheduled_time).total_seconds() > 300]
        assert {str(r.outcome) for r in late} == {"missed"}
        assert outcomes == {"succeeded": 61 - len(late), "missed": len(late)}
        assert all("misfire_grace_time" in (r.error or "") for r in late)
        assert ticker_parked(sched)
        assert sched.shutdown(timeout=2)


def test_wall_clock_steps_back_one_hour() -> None:
    """Scenario 12: nothing runs again; runs resume when the wall clock reaches the next
    fire that has not run."""
    clock = VirtualClock(T0)
    sched = Scheduler(clock=clock)
    sched.add_job(lambda: None, Cron("* * * * *"), id="cron")
    sched.add_job(lambda: None, Interval(seconds=60), id="interval")
    with sched:
        clock.advance(minutes=3, scheduler=sched)
        assert len(runs(sched)) == 6
        clock.jump(-3600)
        clock.advance(minutes=59, scheduler=sched)  # wall time back at T0+2min
        assert len(runs(sched)) == 6, "a fire ran again after the clock stepped back"
        assert ticker_parked(sched)
        clock.advance(minutes=2, scheduler=sched)  # wall T0+4min
        history = runs(sched)
        check_history(history)
        assert len(history) == 8
        assert {r.scheduled_time for r in history[-2:]} == {T0 + timedelta(minutes=4)}
        assert sched.shutdown(timeout=2)


class FastClock(SystemClock):
    """This host's clock, ``offset`` seconds ahead (a host without NTP)."""

    def __init__(self, offset: float) -> None:
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return super().now() + self.offset


@pytest.mark.parametrize("kind", [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.slow]),
])
def test_one_instance_thirty_seconds_fast(make_shared, sched_log, kind: str) -> None:
    """Scenario 13: fires are timed by the store's clock; the fast host runs nothing early
    and says so once."""
    shared = make_shared(kind)
    normal = Scheduler(store=shared.open(), lease_seconds=2, tick=0.2)
    fast = Scheduler(store=shared.open(), lease_seconds=2, tick=0.2, clock=FastClock(30))
    for sched in (normal, fast):
        sched.add_job(tick_job, Interval(seconds=0.5), id="tick")
    normal.start()
    fast.start()
    try:
        wait_until(lambda: len(normal.get_runs("tick", limit=100)) >= 6, 15, "six runs")
    finally:
        fast.shutdown(timeout=2)
        normal.shutdown(timeout=2)
    reader = shared.open()
    history = reader.get_runs("tick", limit=1000)
    check_history(history, allow_open=True)
    store_now = reader.now()
    # Ordering, by the store's clock: a run claimed by the fast host 30 s early would be
    # claimed before its fire and before the previous fire of the 0.5 s grid came due. (The
    # host times fires by its estimate of the store's clock, which can be off by a fraction
    # of a round trip: the grid slot before is the margin, not a number of seconds.)
    for run in history:
        assert run.scheduled_time <= store_now
        assert run.claimed_at > run.scheduled_time - timedelta(seconds=0.5), (
            f"{run.owner} claimed the fire at {run.scheduled_time} early, at {run.claimed_at}"
        )
    warnings = sched_log.messages(logging.WARNING, "ahead of")
    assert len(warnings) == 1, warnings


def tick_job() -> None:
    pass


@pytest.mark.parametrize("kind", [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
])
def test_lone_instance_an_hour_fast_runs_its_fires(make_shared, sched_log, kind: str) -> None:
    """Issue 10, item 5: alone, with a clock an hour fast, an instance ran nothing: its first
    fire was placed by its own clock, before the skew to the server's was measured."""
    shared = make_shared(kind)
    fast = Scheduler(store=shared.open(), lease_seconds=2, tick=0.2, clock=FastClock(3600))
    fast.add_job(tick_job, Interval(seconds=0.5), id="tick")
    fast.start()
    try:
        wait_until(lambda: len(fast.get_runs("tick", limit=100)) >= 4, 15, "four runs")
    finally:
        fast.shutdown(timeout=2)
    reader = shared.open()
    history = sorted(reader.get_runs("tick", limit=1000), key=lambda r: r.scheduled_time)
    check_history(history)
    store_now = reader.now()
    assert all(run.scheduled_time <= store_now for run in history)  # by the server's clock
    assert [str(r.outcome) for r in history] == ["succeeded"] * len(history)
    assert len(sched_log.messages(logging.WARNING, "fires are timed by the store's")) == 1


# -- daylight saving ---------------------------------------------------------------------------
# (zone, local day, expression, the one fire of that day in UTC); the rules are cronie's:
# a fixed time inside a skipped hour fires once at the jump, inside a repeated hour once,
# in the first pass.
DST = [
    ("Europe/Berlin", "2026-03-29", "30 2 * * *", "2026-03-29T01:00"),
    ("Europe/Berlin", "2026-10-25", "30 2 * * *", "2026-10-25T00:30"),
    ("Europe/London", "2026-03-29", "30 1 * * *", "2026-03-29T01:00"),
    ("Europe/London", "2026-10-25", "30 1 * * *", "2026-10-25T00:30"),
    ("America/New_York", "2026-03-08", "30 2 * * *", "2026-03-08T07:00"),
    ("America/New_York", "2026-11-01", "30 1 * * *", "2026-11-01T05:30"),
    ("Australia/Sydney", "2026-10-04", "30 2 * * *", "2026-10-03T16:00"),
    ("Australia/Sydney", "2026-04-05", "30 2 * * *", "2026-04-04T15:30"),
]


@pytest.mark.parametrize(("zone", "day", "expression", "expected"), DST,
                         ids=[f"{d[0]}-{d[1]}" for d in DST])
def test_dst_day_fixed_time_and_wildcard(zone: str, day: str, expression: str,
                                         expected: str) -> None:
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz) - timedelta(hours=1)
    clock = VirtualClock(start)
    sched = Scheduler(clock=clock, timezone=zone)
    sched.add_job(lambda: None, expression, id="fixed")
    sched.add_job(lambda: None, "0,30 * * * *", id="wildcard")
    with sched:
        clock.advance(hours=26, scheduler=sched)
        history = runs(sched)
        check_history(history)
        local_day = datetime.fromisoformat(day).date()
        fixed = [r.scheduled_time for r in runs(sched, "fixed")
                 if r.scheduled_time.astimezone(tz).date() == local_day]
        assert [f.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") for f in fixed] == [expected]
        # a wildcard job follows elapsed time: 23 or 25 hours of half-hours that day
        day_start = datetime.fromisoformat(day).replace(tzinfo=tz)
        day_end = (day_start + timedelta(days=1, hours=3)).replace(hour=0, tzinfo=tz)
        hours = (day_end.astimezone(UTC) - day_start.astimezone(UTC)).total_seconds() / 3600
        wild = [r for r in runs(sched, "wildcard")
                if r.scheduled_time.astimezone(tz).date() == local_day]
        assert len(wild) == 2 * hours and hours in (23, 25)
        assert len({r.scheduled_time for r in wild}) == len(wild)
        assert sched.shutdown(timeout=2)


@pytest.mark.parametrize(("local", "fold", "expected"), [
    (datetime(2026, 3, 29, 2, 30), 0, "2026-03-29T01:30"),  # does not exist: pre-jump offset
    (datetime(2026, 10, 25, 2, 30), 0, "2026-10-25T00:30"),  # exists twice: first pass
    (datetime(2026, 10, 25, 2, 30), 1, "2026-10-25T01:30"),  # exists twice: second pass
], ids=["nonexistent", "ambiguous-fold0", "ambiguous-fold1"])
def test_once_at_a_local_time_that_does_not_exist_or_exists_twice(
    local: datetime, fold: int, expected: str
) -> None:
    """A one-off job names an instant; Python's fold decides which one (documented)."""
    tz = ZoneInfo("Europe/Berlin")
    when = local.replace(tzinfo=tz, fold=fold)
    clock = VirtualClock(datetime(2026, 3, 28, tzinfo=UTC) if local.month == 3
                         else datetime(2026, 10, 24, tzinfo=UTC))
    sched = Scheduler(clock=clock, timezone="Europe/Berlin")
    sched.add_job(lambda: None, Once(when), id="once")
    with sched:
        clock.advance(days=2, scheduler=sched)
        history = runs(sched)
        check_history(history)
        assert [r.scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
                for r in history] == [expected]
        assert sched.shutdown(timeout=2)
