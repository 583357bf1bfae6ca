from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.exceptions import InvalidCronExpression, InvalidTimezone, InvalidTrigger
from scheduler.triggers import Trigger, coerce, from_dict
from scheduler.triggers._cronspec import parse
from scheduler.triggers.cron import Cron

UTC = timezone.utc
BRATISLAVA = ZoneInfo("Europe/Bratislava")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(trigger: Trigger, start: datetime, count: int) -> list[datetime]:
    out = []
    for _ in range(count):
        nxt = trigger.next_after(start)
        assert nxt is not None
        out.append(nxt)
        start = nxt
    return out


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        pytest.param("*/15 * * * *", utc(2026, 1, 1, 10, 7), utc(2026, 1, 1, 10, 15), id="step"),
        pytest.param("*/15 * * * *", utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 30), id="strict"),
        pytest.param(
            "*/15 * * * *",
            utc(2026, 1, 1, 10, 14, 59, 999999),
            utc(2026, 1, 1, 10, 15),
            id="microseconds",
        ),
        pytest.param("0 0 * * *", utc(2026, 12, 31, 12), utc(2027, 1, 1), id="year-carry"),
        pytest.param("0 0 29 2 *", utc(2026, 3, 1), utc(2028, 2, 29), id="leap-day"),
        pytest.param("0 9 * * 1-5", utc(2026, 2, 6, 9), utc(2026, 2, 9, 9), id="weekdays"),
        pytest.param("0 0 L * *", utc(2026, 1, 31), utc(2026, 2, 28), id="last-day"),
        pytest.param("0 0 L * *", utc(2028, 1, 31), utc(2028, 2, 29), id="last-day-leap"),
        pytest.param("0 0 * * 5L", utc(2026, 2, 1), utc(2026, 2, 27), id="last-friday"),
        pytest.param("0 0 * * 1#2", utc(2026, 2, 10), utc(2026, 3, 9), id="second-monday"),
        pytest.param("0 0 15W * *", utc(2026, 2, 1), utc(2026, 2, 16), id="nearest-weekday"),
        pytest.param("0 0 LW * *", utc(2026, 5, 1), utc(2026, 5, 29), id="last-weekday"),
        pytest.param("30 */10 * * * *", utc(2026, 1, 1, 0, 0, 31), utc(2026, 1, 1, 0, 10, 30),
                     id="seconds"),
        pytest.param("@yearly", utc(2026, 6, 1), utc(2027, 1, 1), id="yearly"),
        pytest.param("@monthly", utc(2026, 1, 15), utc(2026, 2, 1), id="monthly"),
        pytest.param("@weekly", utc(2026, 1, 1), utc(2026, 1, 4), id="weekly-sunday"),
        pytest.param("@hourly", utc(2026, 1, 1, 5, 1), utc(2026, 1, 1, 6), id="hourly"),
        pytest.param("0 0 13 * 5", utc(2026, 2, 1), utc(2026, 2, 6), id="vixie-or"),
        pytest.param("0 0 */2 * 5", utc(2026, 2, 1), utc(2026, 2, 13), id="vixie-star-step-and"),
    ],
)
def test_next_after_utc(expr: str, after: datetime, expected: datetime) -> None:
    assert Cron(expr, "UTC").next_after(after) == expected


def test_next_after_returns_trigger_zone_and_accepts_any_zone() -> None:
    trigger = Cron("0 9 * * *", "Europe/Bratislava")
    nxt = trigger.next_after(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo("America/New_York")))
    assert nxt == datetime(2026, 1, 2, 9, tzinfo=BRATISLAVA)
    assert nxt is not None and nxt.tzinfo is BRATISLAVA


def test_default_zone_is_utc_until_given() -> None:
    trigger = Cron("0 9 * * *")
    assert trigger.timezone is None
    assert trigger.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 9)
    local = trigger.with_default_timezone(BRATISLAVA)
    assert local.timezone is BRATISLAVA and trigger.timezone is None
    assert local.next_after(utc(2026, 1, 1)) == datetime(2026, 1, 1, 9, tzinfo=BRATISLAVA)
    assert local.with_default_timezone(ZoneInfo("Asia/Tokyo")) is local


def test_pytz_zone_accepted() -> None:
    trigger = Cron("30 2 * * *", pytz.timezone("Europe/Bratislava"))
    assert trigger.timezone == BRATISLAVA
    nxt = trigger.next_after(utc(2026, 3, 28, 12))
    assert nxt is not None
    assert nxt.isoformat() == "2026-03-29T03:00:00+02:00"


def test_fixed_offset_zone() -> None:
    trigger = Cron("0 9 * * *", timezone(timedelta(hours=5, minutes=30)))
    assert trigger.next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 3, 30)
    assert trigger.to_dict()["timezone"] == "+05:30"


def test_naive_dt_rejected() -> None:
    with pytest.raises(InvalidTrigger, match="naive"):
        Cron("* * * * *").next_after(datetime(2026, 1, 1))


def test_bad_zone_rejected() -> None:
    with pytest.raises(InvalidTimezone):
        Cron("* * * * *", "Mars/Olympus")


def test_never_fires_rejected() -> None:
    with pytest.raises(InvalidCronExpression, match="never fires"):
        Cron("0 0 30 2 *")
    with pytest.raises(InvalidCronExpression, match="never fires"):
        Cron("0 0 31 4 *")


def test_search_is_bounded() -> None:
    # fires only when Feb 1 is a Monday (AND rule because of */29): about every 6-11 years
    trigger = Cron("0 0 */29 2 1", "UTC")
    nxt = trigger.next_after(utc(2026, 1, 1))
    assert nxt == utc(2027, 2, 1)
    # near the end of the calendar there is no further 29 February: None, not a hang
    assert Cron("0 0 29 2 *", "UTC").next_after(utc(9997, 1, 1)) is None
    assert Cron("0 0 29 2 *", "UTC").next_after(utc(9996, 1, 1)) == utc(9996, 2, 29)


def test_attributes_describe_and_dict() -> None:
    trigger = Cron("0 3 * * *", "Europe/Bratislava")
    assert trigger.expression == "0 3 * * *"
    assert trigger.is_wildcard is False
    assert Cron("*/5 * * * *").is_wildcard is True
    assert trigger.describe() == "cron '0 3 * * *' (Europe/Bratislava)"
    assert trigger.to_dict() == {
        "type": "cron",
        "expression": "0 3 * * *",
        "timezone": "Europe/Bratislava",
    }
    assert Cron("@daily").to_dict()["timezone"] is None
    assert "default zone" in Cron("@daily").describe()
    assert "Cron" in repr(trigger)


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Bratislava", "America/New_York"])
def test_round_trip(tz: str | None) -> None:
    trigger = Cron("*/5 9-17 * * MON-FRI", tz)
    again = from_dict(trigger.to_dict())
    assert isinstance(again, Cron) and again == trigger and hash(again) == hash(trigger)
    assert again.next_after(utc(2026, 5, 5)) == trigger.next_after(utc(2026, 5, 5))


def test_coerce_string() -> None:
    trigger = coerce("*/5 * * * *")
    assert isinstance(trigger, Cron) and trigger.expression == "*/5 * * * *"


# -- property test against a brute-force reference ----------------------------------------

FIELD_VALUES = {
    "minute": (0, 59),
    "hour": (0, 23),
    "dom": (1, 31),
    "month": (1, 12),
    "dow": (0, 7),
}


@st.composite
def field_text(draw: st.DrawFn, name: str) -> str:
    low, high = FIELD_VALUES[name]
    kind = draw(st.sampled_from(["star", "value", "range", "step", "list", "startstep"]))
    if kind == "star":
        return "*"
    if kind == "value":
        return str(draw(st.integers(low, high)))
    if kind == "range":
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        return f"{a}-{b}"
    if kind == "step":
        return f"*/{draw(st.integers(1, high - low + 1))}"
    if kind == "startstep":
        return f"{draw(st.integers(low, high))}/{draw(st.integers(1, high - low + 1))}"
    values = draw(st.lists(st.integers(low, high), min_size=1, max_size=4))
    return ",".join(map(str, values))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    minute = draw(field_text("minute"))
    hour = draw(field_text("hour"))
    dom = draw(field_text("dom"))
    month = draw(field_text("month"))
    dow = draw(field_text("dow"))
    extra = draw(st.sampled_from(["", "", "", "L", "15W", "LW"]))
    if extra and dom != "*":
        dom = f"{dom},{extra}"
    dow_extra = draw(st.sampled_from(["", "", "", "5L", "1#2", "0#5"]))
    if dow_extra and dow != "*":
        dow = f"{dow},{dow_extra}"
    return f"{minute} {hour} {dom} {month} {dow}"


def reference_next(expr: str, after: datetime, limit_days: int = 400) -> datetime | None:
    """Minute by minute, with the day rule written out plainly."""
    spec = parse(expr)
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = t + timedelta(days=limit_days)
    while t < end:
        if (
            t.minute in spec.minutes
            and t.hour in spec.hours
            and t.month in spec.months
            and t.day in spec.compute_days(t.year, t.month)
        ):
            return t
        t += timedelta(minutes=1)
    return None


def reference_day_matches(expr: str, day: datetime) -> bool:
    """The Vixie/cronie day rule from the raw text, independent of the parser's day logic."""
    parts = expr.split()
    dom_text, dow_text = parts[2], parts[4]
    spec = parse(expr)
    import calendar

    ndays = calendar.monthrange(day.year, day.month)[1]
    cron_wd = (day.weekday() + 1) % 7
    dom_ok = day.day in spec.dom
    for item in dom_text.split(","):
        if item == "L":
            dom_ok |= day.day == ndays
        elif item == "LW" or item.endswith("W"):
            target = ndays if item == "LW" else int(item[:-1])
            if target <= ndays:
                cand = day.replace(day=target)
                if cand.weekday() == 5:
                    cand = cand - timedelta(days=1) if target > 1 else cand + timedelta(days=2)
                elif cand.weekday() == 6:
                    cand = (
                        cand + timedelta(days=1) if target < ndays else cand - timedelta(days=2)
                    )
                dom_ok |= cand.day == day.day
    dow_ok = cron_wd in spec.dow
    for item in dow_text.split(","):
        if item.endswith("L"):
            dow_ok |= cron_wd == int(item[:-1]) % 7 and day.day + 7 > ndays
        elif "#" in item:
            wd, nth = item.split("#")
            dow_ok |= cron_wd == int(wd) % 7 and (day.day - 1) // 7 + 1 == int(nth)
    if dom_text.startswith("*") or dow_text.startswith("*"):
        return dom_ok and dow_ok
    return dom_ok or dow_ok


@settings(max_examples=300, deadline=None)
@given(
    expr=expressions(),
    after=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
)
def test_matches_brute_force(expr: str, after: datetime) -> None:
    try:
        trigger = Cron(expr, "UTC")
    except InvalidCronExpression as exc:
        assert "never fires" in str(exc)
        return
    after = after.replace(tzinfo=UTC)
    got = trigger.next_after(after)
    assert got is not None
    assert got > after
    assert reference_day_matches(expr, got)
    spec = parse(expr)
    assert got.minute in spec.minutes and got.hour in spec.hours and got.month in spec.months
    if got - after <= timedelta(days=60):
        assert got == reference_next(expr, after, limit_days=61)
    else:
        assert reference_next(expr, after, limit_days=2) is None
