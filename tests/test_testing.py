"""scheduler.testing: VirtualClock and settle(), beside freezegun; pytz zones."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz
from freezegun import freeze_time

from scheduler import Cron, Daily, Once, RunOutcome, Scheduler, current_job
from scheduler.testing import VirtualClock, settle
from tests.core_support import START, Calls, wait

T0 = datetime.fromisoformat(START)
MINUTE = timedelta(minutes=1)


# -- VirtualClock --------------------------------------------------------------------------


def test_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(START)
    assert clock.now() == T0
    assert clock.now().tzinfo is not None
    mono = clock.monotonic()
    assert clock.advance(90) == T0 + timedelta(seconds=90)
    assert clock.monotonic() == mono + 90
    assert clock.advance(minutes=1, hours=1, days=1) == T0 + timedelta(days=1, hours=1, seconds=150)


def test_virtual_clock_start_forms() -> None:
    assert VirtualClock().now() == datetime(2026, 1, 1, tzinfo=timezone.utc)
    berlin = datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert VirtualClock(berlin).now() == datetime(2026, 7, 1, 10, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(datetime(2026, 1, 1))


def test_virtual_clock_refuses_to_go_back() -> None:
    clock = VirtualClock(START)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_jump_moves_the_wall_clock_only() -> None:
    clock = VirtualClock(START)
    mono = clock.monotonic()
    assert clock.jump(-3600) == T0 - timedelta(hours=1)
    assert clock.monotonic() == mono
    assert clock.set("2026-03-03T00:00:00+00:00") == datetime(2026, 3, 3, tzinfo=timezone.utc)
    assert clock.monotonic() == mono + 13 * 3600


def test_advance_stops_at_every_fire_so_each_runs_on_time() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock, timezone="Europe/Bratislava")
    seen = Calls(lambda: (clock.now(), current_job().scheduled_time))  # type: ignore[union-attr]
    sched.add_job(seen, "*/10 * * * *", id="ten", misfire_grace_time=0)
    with sched:
        clock.advance(hours=1, scheduler=sched)
    assert [now for now, _ in seen.values] == [T0 + m * MINUTE for m in range(10, 61, 10)]
    assert all(now == fire for now, fire in seen.values)  # never late, never coalesced
    assert [r.outcome for r in sched.get_runs("ten")] == [RunOutcome.SUCCEEDED] * 6


def test_advance_runs_a_dst_day_in_order() -> None:
    # 2026-03-29: Bratislava skips 02:00-03:00; the 02:30 job runs once, at the jump
    clock = VirtualClock("2026-03-28T12:00:00+00:00")
    sched = Scheduler(clock=clock, timezone="Europe/Bratislava")
    seen = Calls(lambda: clock.now().astimezone(ZoneInfo("Europe/Bratislava")))
    sched.add_job(seen, Daily("02:30"), id="daily")
    with sched:
        clock.advance(days=2, scheduler=sched)
    assert [v.isoformat() for v in seen.values] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_settle_runs_what_is_due_and_waits_for_the_pool() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    calls = Calls()
    sched.add_job(calls, MINUTE, id="j")
    with sched:
        clock.advance(minutes=1)  # time moved; nothing waited for the run
        settle(sched)
        assert calls.count == 1
        settle(sched)  # nothing due: returns at once
        assert calls.count == 1


def test_settle_raises_when_a_job_blocks() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock, lease_seconds=3600)
    started, release = threading.Event(), threading.Event()

    def blocked() -> None:
        started.set()
        release.wait(5)

    sched.add_job(blocked, MINUTE, id="b")
    sched.start()
    try:
        clock.advance(minutes=1)
        wait(started)
        with pytest.raises(TimeoutError, match="still running"):
            settle(sched, timeout=0.05)
    finally:
        release.set()
        sched.shutdown(timeout=1)


def test_a_user_test_in_the_documented_style() -> None:
    sent: list[str] = []

    def report() -> None:
        sent.append(current_job().scheduled_time.isoformat())  # type: ignore[union-attr]

    clock = VirtualClock("2026-03-28T12:00:00+00:00")
    sched = Scheduler(timezone="Europe/Bratislava", clock=clock)
    sched.add_job(report, "0 3 * * *")
    with sched:
        clock.advance(hours=24, scheduler=sched)
    assert sent == ["2026-03-29T03:00:00+02:00"]


# -- freezegun -----------------------------------------------------------------------------


def test_virtual_clock_under_freeze_time() -> None:
    with freeze_time("2001-09-09 01:46:40"):
        clock = VirtualClock(START)
        sched = Scheduler(clock=clock)
        calls = Calls(lambda: clock.now())
        sched.add_job(calls, MINUTE, id="j")
        sched.add_job(Calls(), Once(T0 + 2 * MINUTE), id="once")
        with sched:
            clock.advance(minutes=3, scheduler=sched)
        assert datetime.now(timezone.utc).year == 2001  # freezegun still in charge
    assert calls.values == [T0 + m * MINUTE for m in (1, 2, 3)]
    assert [r.outcome for r in sched.get_runs("once")] == [RunOutcome.SUCCEEDED]


def test_system_clock_scheduler_under_ticking_freezegun() -> None:
    with freeze_time("2030-06-01 12:00:00", tick=True):
        ran = threading.Event()
        sched = Scheduler()
        when = datetime.now(timezone.utc) + timedelta(milliseconds=50)
        assert when.year == 2030
        job = sched.add_job(ran.set, Once(when), id="once")
        with sched:
            assert job.next_run_time == when
            wait(ran, "the job under freezegun")
        assert sched.state == "shut down"
    [run] = sched.get_runs("once")
    assert run.scheduled_time == when
    assert run.outcome is RunOutcome.SUCCEEDED


def test_system_clock_scheduler_under_frozen_time_does_not_crash() -> None:
    # time does not move at all: nothing is due, but start and shutdown work
    with freeze_time("2030-06-01 12:00:00"):
        sched = Scheduler()
        job = sched.add_job(print, "0 3 * * *", id="nightly")
        with sched:
            assert job.next_run_time == datetime(2030, 6, 2, 3, tzinfo=timezone.utc)
        assert sched.state == "shut down"


# -- pytz ----------------------------------------------------------------------------------


def test_pytz_scheduler_zone() -> None:
    clock = VirtualClock("2026-03-28T12:00:00+00:00")
    sched = Scheduler(timezone=pytz.timezone("Europe/Bratislava"), clock=clock)
    seen = Calls(lambda: current_job().scheduled_time)  # type: ignore[union-attr]
    job = sched.add_job(seen, "30 2 * * *", id="dst")
    with sched:
        nxt = job.next_run_time
        assert nxt is not None
        assert nxt.utcoffset() == timedelta(hours=2)  # the jump: 03:00+02:00
        assert nxt == datetime(2026, 3, 29, 1, tzinfo=timezone.utc)
        clock.advance(days=2, scheduler=sched)
    assert [v.isoformat() for v in seen.values] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe", "UTC"])
def test_pytz_zones_are_accepted_everywhere(zone: str) -> None:
    clock = VirtualClock(START)
    sched = Scheduler(timezone=pytz.timezone(zone), clock=clock)
    job = sched.add_job(print, Cron("0 9 * * *", timezone=pytz.timezone(zone)), id="cron")
    daily = sched.add_job(print, Daily("09:00", pytz.timezone(zone)), id="daily")
    with sched:
        assert job.next_run_time == daily.next_run_time
        assert job.next_run_time is not None
        local = job.next_run_time.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (9, 0)
