from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from scheduler.exceptions import InvalidTrigger
from scheduler.triggers import from_dict
from scheduler.triggers.bounded import Until
from scheduler.triggers.calendar import CalendarInterval
from scheduler.triggers.cron import Cron
from scheduler.triggers.daily import Daily, parse_at
from scheduler.triggers.interval import Interval
from scheduler.triggers.once import Once

UTC = timezone.utc
BRATISLAVA = ZoneInfo("Europe/Bratislava")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BRATISLAVA)


# -- Daily ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [("00:00", (0, 0, 0)), ("9:05", (9, 5, 0)), ("23:59:59", (23, 59, 59))],
)
def test_parse_at(at: str, expected: tuple[int, int, int]) -> None:
    assert parse_at(at) == expected


@pytest.mark.parametrize("at", ["24:00", "12:60", "12:00:60", "noon", "12", "12:5", ""])
def test_bad_at_rejected(at: str) -> None:
    with pytest.raises(InvalidTrigger) as info:
        Daily(at)
    assert repr(at) in str(info.value)


def test_daily() -> None:
    trigger = Daily("10:30", "Europe/Bratislava")
    assert trigger.next_after(local(2026, 1, 1, 10, 30)) == local(2026, 1, 2, 10, 30)
    assert trigger.next_after(local(2026, 1, 1, 9)) == local(2026, 1, 1, 10, 30)
    assert Daily("10:30:15").next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 10, 30, 15)
    assert trigger.is_wildcard is False
    assert trigger.describe() == "daily at 10:30 (Europe/Bratislava)"
    assert trigger.to_dict() == {"type": "daily", "at": "10:30", "timezone": "Europe/Bratislava"}


def test_daily_same_as_cron() -> None:
    daily, cron = Daily("02:30", "Europe/Bratislava"), Cron("30 2 * * *", "Europe/Bratislava")
    dt = utc(2026, 3, 1)
    for _ in range(300):
        a, b = daily.next_after(dt), cron.next_after(dt)
        assert a == b and a is not None and a.fold == b.fold
        dt = a


def test_daily_default_zone() -> None:
    trigger = Daily("08:00")
    assert trigger.timezone is None
    tokyo = trigger.with_default_timezone(ZoneInfo("Asia/Tokyo"))
    assert isinstance(tokyo, Daily) and tokyo.to_dict()["timezone"] == "Asia/Tokyo"
    assert tokyo.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 23)


# -- Once -----------------------------------------------------------------------------------


def test_once() -> None:
    when = local(2026, 5, 1, 12)
    trigger = Once(when)
    assert trigger.when is when
    assert trigger.next_after(local(2026, 5, 1, 11)) == when
    assert trigger.next_after(when) is None
    assert trigger.next_after(local(2026, 6, 1)) is None
    assert trigger.is_past(local(2026, 5, 1, 12)) and not trigger.is_past(local(2026, 5, 1))
    assert trigger.when_utc == utc(2026, 5, 1, 10)
    assert "once at 2026-05-01T12:00:00+02:00" == trigger.describe()


def test_once_naive_rejected() -> None:
    with pytest.raises(InvalidTrigger, match="naive; pass an aware datetime"):
        Once(datetime(2026, 1, 1))
    with pytest.raises(InvalidTrigger, match="must be a datetime"):
        Once("2026-01-01")  # type: ignore[arg-type]


# -- CalendarInterval -----------------------------------------------------------------------


def test_calendar_interval_counts_local_days_from_anchor() -> None:
    trigger = CalendarInterval(days=3, at="10:30", timezone="Europe/Bratislava")
    anchored = trigger.anchored(local(2026, 3, 27, 9))
    assert anchored.next_after(local(2026, 3, 27, 9)) == local(2026, 3, 27, 10, 30)  # same day
    nxt = anchored.next_after(local(2026, 3, 27, 10, 30))
    assert nxt is not None and nxt.isoformat() == "2026-03-30T10:30:00+02:00"  # across DST
    assert anchored.next_after(local(2026, 3, 31, 12)) == local(2026, 4, 2, 10, 30)


def test_calendar_interval_fixed_dst_rules() -> None:
    trigger = CalendarInterval(days=1, at="02:30", timezone="Europe/Bratislava")
    spring = trigger.next_after(utc(2026, 3, 28, 12))
    assert spring is not None and spring.isoformat() == "2026-03-29T03:00:00+02:00"
    autumn = trigger.next_after(utc(2026, 10, 24, 12))
    assert autumn is not None and (autumn.isoformat(), autumn.fold) == (
        "2026-10-25T02:30:00+02:00",
        0,
    )
    after = trigger.next_after(autumn)
    assert after is not None and after.isoformat() == "2026-10-26T02:30:00+01:00"


def test_calendar_interval_weeks_and_errors() -> None:
    trigger = CalendarInterval(weeks=2, at="09:00", start=utc(2026, 1, 5))  # a Monday
    assert trigger.days == 14
    assert trigger.next_after(utc(2026, 1, 6)) == utc(2026, 1, 19, 9)
    with pytest.raises(InvalidTrigger, match="positive"):
        CalendarInterval(days=0)
    with pytest.raises(InvalidTrigger, match="whole number"):
        CalendarInterval(days=1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidTrigger, match="24:00"):
        CalendarInterval(days=2, at="24:00")


# -- Until ----------------------------------------------------------------------------------


def test_until() -> None:
    trigger = Until(Interval(minutes=30, start=utc(2026, 1, 1)), utc(2026, 1, 1, 1))
    assert trigger.next_after(utc(2026, 1, 1, 0, 10)) == utc(2026, 1, 1, 0, 30)
    assert trigger.next_after(utc(2026, 1, 1, 0, 30)) == utc(2026, 1, 1, 1)
    assert trigger.next_after(utc(2026, 1, 1, 1)) is None
    wrapped = Until(Interval(hours=1), utc(2026, 2, 1)).anchored(utc(2026, 1, 1, 0, 15))
    assert isinstance(wrapped, Until) and wrapped.next_after(utc(2026, 1, 1)) == utc(
        2026, 1, 1, 0, 15
    )
    zoned = Until(Daily("08:00"), utc(2027, 1, 1)).with_default_timezone(BRATISLAVA)
    assert zoned.timezone is BRATISLAVA
    with pytest.raises(InvalidTrigger, match="naive"):
        Until(Daily("08:00"), datetime(2026, 1, 1))


# -- round trips for every kind ---------------------------------------------------------------

ROUND_TRIP = [
    pytest.param(Cron("*/5 * * * *", "Europe/Bratislava"), id="cron"),
    pytest.param(Cron("0 0 L * 5L"), id="cron-no-zone"),
    pytest.param(Interval(hours=1, start=utc(2026, 1, 1)), id="interval"),
    pytest.param(Daily("03:00:30", "America/New_York"), id="daily"),
    pytest.param(Daily("03:00"), id="daily-no-zone"),
    pytest.param(Once(local(2026, 5, 1, 12)), id="once"),
    pytest.param(CalendarInterval(days=2, at="10:30", timezone="UTC"), id="calendar"),
    pytest.param(
        CalendarInterval(days=2, at="10:30", start=local(2026, 1, 1)), id="calendar-anchored"
    ),
    pytest.param(Until(Daily("08:00", "Europe/Bratislava"), utc(2027, 1, 1)), id="until"),
]


@pytest.mark.parametrize("trigger", ROUND_TRIP)
def test_round_trip(trigger: object) -> None:
    import json

    data = json.loads(json.dumps(trigger.to_dict()))  # type: ignore[attr-defined]
    again = from_dict(data)
    assert type(again) is type(trigger) and again == trigger
    dt = utc(2026, 3, 29, 0, 30)
    assert again.next_after(dt) == trigger.next_after(dt)  # type: ignore[attr-defined]


def test_unknown_type() -> None:
    with pytest.raises(InvalidTrigger, match="unknown trigger type 'nope'"):
        from_dict({"type": "nope"})
