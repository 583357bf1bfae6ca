from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.exceptions import InvalidCronExpression, InvalidTimezone, InvalidTrigger
from scheduler.triggers import Trigger, coerce, from_dict
from scheduler.triggers.cron import Cron

from . import cron_reference as reference

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
        # the month ends on a Friday: its last Friday is the 31st, not the 24th (#16)
        pytest.param("0 0 * * 5L", utc(2026, 7, 1), utc(2026, 7, 31), id="last-friday-on-31st"),
        # cronsim's "first Monday" idiom (#9): not every Monday, not the 1st-7th
        pytest.param("1 1 */100,1-7 * MON", utc(2026, 1, 5, 2), utc(2026, 2, 2, 1, 1),
                     id="first-monday-idiom"),
        pytest.param("*/100 * * * *", utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 11, 0),
                     id="step-past-field-first-value"),
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
#: the day-field items with their own rules, drawn often so each meets its edge cases
DOM_SPECIAL = ["L", "L-3", "15W", "1W", "31W", "LW"]
DOW_SPECIAL = ["5L", "0L", "1L", "1#2", "0#5", "6#1", "5#4"]


@st.composite
def field_text(draw: st.DrawFn, name: str) -> str:
    low, high = FIELD_VALUES[name]
    kinds = ["star", "value", "range", "step", "list", "startstep"]
    if name in ("dom", "dow"):
        kinds += ["special", "special"]
    kind = draw(st.sampled_from(kinds))
    if kind == "star":
        return "*"
    if kind == "value":
        return str(draw(st.integers(low, high)))
    if kind == "range":
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        return f"{a}-{b}"
    if kind == "step":  # steps past the field's size included: first value only
        return f"*/{draw(st.integers(1, 100))}"
    if kind == "startstep":
        return f"{draw(st.integers(low, high))}/{draw(st.integers(1, high - low + 1))}"
    if kind == "special":
        return draw(st.sampled_from(DOM_SPECIAL if name == "dom" else DOW_SPECIAL))
    values = draw(st.lists(st.integers(low, high), min_size=1, max_size=4))
    return ",".join(map(str, values))


@st.composite
def expressions(draw: st.DrawFn) -> str:
    minute = draw(field_text("minute"))
    hour = draw(field_text("hour"))
    dom = draw(field_text("dom"))
    month = draw(field_text("month"))
    dow = draw(field_text("dow"))
    extra = draw(st.sampled_from(["", "", "", *DOM_SPECIAL]))
    if extra and dom != "*":
        dom = f"{dom},{extra}"
    dow_extra = draw(st.sampled_from(["", "", "", *DOW_SPECIAL]))
    if dow_extra and dow != "*":
        dow = f"{dow},{dow_extra}"
    return f"{minute} {hour} {dom} {month} {dow}"


#: how far the reference looks; every expression the strategy draws fires within 8 years
REFERENCE_DAYS = 8 * 366


@settings(max_examples=400)
@given(
    expr=expressions(),
    after=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
)
def test_matches_brute_force(expr: str, after: datetime) -> None:
    """next_after agrees with a day-by-day search written from the README (cron_reference).

    Under the CI profile this catches, every run, ``nL`` matching one week early when the
    month ends on that weekday (#16), and a step past the field's size refused (#9).
    """
    try:
        trigger = Cron(expr, "UTC")
    except InvalidCronExpression as exc:
        assert "never fires" in str(exc)
        assert reference.next_utc(expr, datetime(2001, 1, 1, tzinfo=UTC), 28 * 366) is None
        return
    after = after.replace(tzinfo=UTC)
    got = trigger.next_after(after)
    expected = reference.next_utc(expr, after, REFERENCE_DAYS)
    if expected is None:
        assert got is None or got > after + timedelta(days=REFERENCE_DAYS), expr
    else:
        assert got == expected, expr
