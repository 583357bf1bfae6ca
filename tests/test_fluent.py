from __future__ import annotations

import functools
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytz
import schedule

from scheduler.exceptions import InvalidTimezone, InvalidTrigger
from scheduler.fluent import Every, adopt
from scheduler.triggers.bounded import Until
from scheduler.triggers.calendar import CalendarInterval
from scheduler.triggers.cron import Cron
from scheduler.triggers.daily import Daily
from scheduler.triggers.interval import Interval, RandomInterval

UTC = timezone.utc
BRATISLAVA = ZoneInfo("Europe/Bratislava")
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday


class FakeClock:
    def now(self) -> datetime:
        return NOW


class FakeScheduler:
    """Records add_job calls; stands in for the real Scheduler."""

    def __init__(self, tz: object = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.clock = FakeClock()
        self.timezone = tz

    def every(self, interval: float = 1) -> Every:
        return Every(self, interval)

    def add_job(self, func: Any, trigger: Any, **options: Any) -> dict[str, Any]:
        call = {"func": func, "trigger": trigger, **options}
        self.calls.append(call)
        return call


def job(*args: Any, **kwargs: Any) -> None:
    pass


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def sched() -> FakeScheduler:
    return FakeScheduler()


def test_do_passes_args_kwargs_tags(sched: FakeScheduler) -> None:
    result = sched.every(10).minutes.tag("a", "b", "a").do(job, 1, 2, x=3)
    assert result is sched.calls[0]
    assert result["func"] is job
    assert result["args"] == (1, 2) and result["kwargs"] == {"x": 3}
    assert result["tags"] == ("a", "b")
    assert result["trigger"] == Interval(minutes=10)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda s: s.every().second, Interval(seconds=1), id="second"),
        pytest.param(lambda s: s.every(5).seconds, Interval(seconds=5), id="seconds"),
        pytest.param(lambda s: s.every().minute, Interval(minutes=1), id="minute"),
        pytest.param(lambda s: s.every(2).hours, Interval(hours=2), id="hours"),
        pytest.param(lambda s: s.every().day, Interval(days=1), id="day-no-at"),
        pytest.param(lambda s: s.every(3).weeks, Interval(weeks=3), id="weeks"),
        pytest.param(lambda s: s.every().day.at("10:30"), Daily("10:30"), id="day-at"),
        pytest.param(
            lambda s: s.every().day.at("10:30:15", "Europe/Bratislava"),
            Daily("10:30:15", "Europe/Bratislava"),
            id="day-at-tz",
        ),
        pytest.param(
            lambda s: s.every().day.at("02:30", pytz.timezone("Europe/Bratislava")),
            Daily("02:30", "Europe/Bratislava"),
            id="day-at-pytz",
        ),
        pytest.param(
            lambda s: s.every(2).days.at("10:30"),
            CalendarInterval(days=2, at="10:30"),
            id="days-at",
        ),
        pytest.param(
            lambda s: s.every(3).weeks.at("09:00"),
            CalendarInterval(days=21, at="09:00"),
            id="weeks-at",
        ),
        pytest.param(lambda s: s.every().monday, Cron("0 0 0 * * 1"), id="monday"),
        pytest.param(
            lambda s: s.every().sunday.at("09:15:30", "UTC"),
            Cron("30 15 9 * * 0", "UTC"),
            id="sunday-at",
        ),
        pytest.param(lambda s: s.every().hour.at(":15"), Cron("0 15 * * * *"), id="hour-at"),
        pytest.param(lambda s: s.every().hour.at("15:30"), Cron("30 15 * * * *"), id="hour-mmss"),
        pytest.param(
            lambda s: s.every(3).hours.at(":05"), Cron("0 5 */3 * * *"), id="hours-at"
        ),
        pytest.param(lambda s: s.every().minute.at(":20"), Cron("20 * * * * *"), id="minute-at"),
        pytest.param(
            lambda s: s.every(5).minutes.at(":20"), Cron("20 */5 * * * *"), id="minutes-at"
        ),
    ],
)
def test_mapping(sched: FakeScheduler, build: Any, expected: Any) -> None:
    trigger = build(sched).do(job)["trigger"]
    assert trigger == expected


def test_fires_on_concrete_instants(sched: FakeScheduler) -> None:
    monday = sched.every().monday.at("09:00", "Europe/Bratislava").do(job)["trigger"]
    assert monday.next_after(utc(2026, 1, 6)) == datetime(2026, 1, 12, 9, tzinfo=BRATISLAVA)
    hourly = sched.every().hour.at(":15").do(job)["trigger"]
    assert hourly.next_after(utc(2026, 1, 1, 10, 20)) == utc(2026, 1, 1, 11, 15)
    minutely = sched.every().minute.at(":20").do(job)["trigger"]
    assert minutely.next_after(utc(2026, 1, 1, 10, 20, 30)) == utc(2026, 1, 1, 10, 21, 20)
    every2 = sched.every(2).days.at("10:30").do(job)["trigger"].anchored(utc(2026, 1, 1, 12))
    assert every2.next_after(utc(2026, 1, 1, 12)) == utc(2026, 1, 3, 10, 30)


def test_to_makes_random_interval(sched: FakeScheduler) -> None:
    trigger = sched.every(5).to(10).seconds.do(job)["trigger"]
    assert isinstance(trigger, RandomInterval)
    assert (trigger.low, trigger.high) == (timedelta(seconds=5), timedelta(seconds=10))
    assert trigger.seed == f"{__name__}:job"
    again = sched.every(5).to(10).seconds.do(functools.partial(job, 1))["trigger"]
    assert again.seed == trigger.seed


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(utc(2026, 2, 1), utc(2026, 2, 1), id="aware-datetime"),
        pytest.param(timedelta(hours=2), NOW + timedelta(hours=2), id="timedelta"),
        pytest.param(time(18, 0), utc(2026, 1, 5, 18), id="time-today"),
        pytest.param("18:30", utc(2026, 1, 5, 18, 30), id="HH:MM"),
        pytest.param("18:30:05", utc(2026, 1, 5, 18, 30, 5), id="HH:MM:SS"),
        pytest.param("2026-03-01", utc(2026, 3, 1), id="date"),
        pytest.param("2026-03-01 10:00", utc(2026, 3, 1, 10), id="date-time"),
        pytest.param(datetime(2026, 3, 1, 10), utc(2026, 3, 1, 10), id="naive-in-default-zone"),
    ],
)
def test_until(moment: Any, expected: datetime) -> None:
    sched = FakeScheduler(tz="UTC")
    trigger = sched.every(10).minutes.until(moment).do(job)["trigger"]
    assert isinstance(trigger, Until) and trigger.end == expected


def test_until_uses_at_zone_and_stops(sched: FakeScheduler) -> None:
    trigger = sched.every().day.at("10:00", "Europe/Bratislava").until("2026-01-07 12:00")
    built = trigger.do(job)["trigger"]
    assert built.end == datetime(2026, 1, 7, 12, tzinfo=BRATISLAVA)
    assert built.next_after(utc(2026, 1, 6, 12)) == datetime(2026, 1, 7, 10, tzinfo=BRATISLAVA)
    assert built.next_after(utc(2026, 1, 7, 12)) is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda s: s.every(2).minute, "use .minutes", id="plural-needed"),
        pytest.param(lambda s: s.every(2).monday, "every week", id="weekday-interval"),
        pytest.param(lambda s: s.every(0), "positive", id="zero"),
        pytest.param(lambda s: s.every(-1), "positive", id="negative"),
        pytest.param(lambda s: s.every().second.at(":10"), "unit", id="at-seconds"),
        pytest.param(lambda s: s.every().day.at("25:00"), "hours go 00-23", id="hour-25"),
        pytest.param(lambda s: s.every().day.at("10:60"), "HH:MM", id="minute-60"),
        pytest.param(lambda s: s.every().day.at(":30"), "HH:MM", id="day-colon"),
        pytest.param(lambda s: s.every().hour.at("10:00:00"), ":MM", id="hour-long"),
        pytest.param(lambda s: s.every().minute.at("10:00"), ":SS", id="minute-long"),
        pytest.param(lambda s: s.every(5).to(2), "at least", id="to-smaller"),
        pytest.param(lambda s: s.every().minutes.until("yesterday"), "until", id="until-bad"),
        pytest.param(lambda s: s.every().minutes.until(utc(2020, 1, 1)), "past", id="past"),
        pytest.param(lambda s: s.every(3).do(job), "needs a unit", id="no-unit"),
        pytest.param(lambda s: s.every(5).to(9).days.at("10:00").do(job), ".to()", id="to-at"),
        pytest.param(lambda s: s.every(1.5).days.at("10:00").do(job), "whole", id="frac-days"),
        pytest.param(lambda s: s.every(30).hours.at(":00").do(job), "up to 24", id="30-hours"),
    ],
)
def test_errors(sched: FakeScheduler, build: Any, message: str) -> None:
    with pytest.raises(InvalidTrigger, match=message):
        build(sched)
    assert sched.calls == []


def test_bad_zone(sched: FakeScheduler) -> None:
    with pytest.raises(InvalidTimezone, match="Mars/Base"):
        sched.every().day.at("10:00", "Mars/Base")


# -- adopt ------------------------------------------------------------------------------------


def test_adopt_schedule_jobs() -> None:
    source = schedule.Scheduler()
    source.every(10).minutes.do(job, 1, key="v").tag("poll")
    source.every().day.at("02:30", "Europe/Bratislava").do(job)
    source.every().wednesday.at("13:15").do(job)
    source.every().hour.at(":05").do(job)
    source.every(5).to(10).seconds.do(job)
    source.every(2).days.at("06:00").do(job)
    source.every().minute.at(":17").until(datetime(2099, 1, 1)).do(job)
    sched = FakeScheduler(tz="UTC")
    jobs = adopt(sched, source)
    assert len(jobs) == 7 and source.jobs == []
    triggers = [call["trigger"] for call in sched.calls]
    assert triggers[0] == Interval(minutes=10)
    assert sched.calls[0]["args"] == (1,) and sched.calls[0]["kwargs"] == {"key": "v"}
    assert sched.calls[0]["tags"] == ("poll",) and sched.calls[0]["func"] is job
    assert triggers[1] == Daily("02:30", "Europe/Bratislava")
    assert triggers[2] == Cron("0 15 13 * * 3")
    assert triggers[3] == Cron("0 5 * * * *")
    assert isinstance(triggers[4], RandomInterval)
    assert triggers[5] == CalendarInterval(days=2, at="06:00")
    assert triggers[6] == Until(Cron("17 * * * * *"), datetime(2099, 1, 1, tzinfo=UTC))
    assert triggers[1].next_after(utc(2026, 3, 28, 12)).isoformat() == "2026-03-29T03:00:00+02:00"


def test_adopt_is_all_or_nothing() -> None:
    source = schedule.Scheduler()
    source.every(10).minutes.do(job)
    bad = source.every().minute.do(job)
    bad.unit = "fortnights"
    sched = FakeScheduler()
    with pytest.raises(InvalidTrigger, match="fortnights"):
        adopt(sched, source)
    assert sched.calls == [] and len(source.jobs) == 2
