"""cronie's daylight-saving rules, on real transition days.

Europe/Bratislava: 2026-03-29 02:00 -> 03:00 (CET -> CEST); 2026-10-25 03:00 -> 02:00.
America/New_York: 2026-03-08 02:00 -> 03:00; 2026-11-01 02:00 -> 01:00.
Australia/Lord_Howe (30-minute shift): 2026-04-05 02:00 -> 01:30; 2026-10-04 02:00 -> 02:30.
Australia/Sydney: 2026-04-05 03:00 -> 02:00; 2026-10-04 02:00 -> 03:00.
America/Santiago (at midnight): 2026-04-05 00:00 -> 04-04 23:00; 2026-09-06 00:00 -> 01:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.triggers import Trigger
from scheduler.triggers.cron import Cron
from scheduler.triggers.daily import Daily

from . import cron_reference as reference

UTC = timezone.utc


def series(trigger: Trigger, start: str, count: int) -> list[str]:
    """Fires as 'local-iso fold' strings, starting after the local wall time ``start``."""
    assert trigger.timezone is not None
    dt = datetime.fromisoformat(start).replace(tzinfo=trigger.timezone)
    out = []
    for _ in range(count):
        nxt = trigger.next_after(dt)
        assert nxt is not None and nxt.astimezone(UTC) > dt.astimezone(UTC)
        assert nxt.tzinfo is trigger.timezone
        out.append(f"{nxt.isoformat()} fold={nxt.fold}")
        dt = nxt
    return out


CASES = [
    # --- Bratislava, spring forward -------------------------------------------------------
    pytest.param(
        "30 2 * * *", "Europe/Bratislava", "2026-03-28T12:00", 2,
        ["2026-03-29T03:00:00+02:00 fold=0", "2026-03-30T02:30:00+02:00 fold=0"],
        id="bratislava-spring-fixed-in-gap-fires-at-jump",
    ),
    pytest.param(
        "0,30 2 * * *", "Europe/Bratislava", "2026-03-29T00:00", 2,
        ["2026-03-29T03:00:00+02:00 fold=0", "2026-03-30T02:00:00+02:00 fold=0"],
        id="bratislava-spring-two-matches-one-fire",
    ),
    pytest.param(
        "0,30 2,3 * * *", "Europe/Bratislava", "2026-03-29T00:00", 3,
        [
            "2026-03-29T03:00:00+02:00 fold=0",
            "2026-03-29T03:30:00+02:00 fold=0",
            "2026-03-30T02:00:00+02:00 fold=0",
        ],
        id="bratislava-spring-jump-and-0300-are-one-fire",
    ),
    pytest.param(
        "*/15 * * * *", "Europe/Bratislava", "2026-03-29T01:30", 4,
        [
            "2026-03-29T01:45:00+01:00 fold=0",
            "2026-03-29T03:00:00+02:00 fold=0",
            "2026-03-29T03:15:00+02:00 fold=0",
            "2026-03-29T03:30:00+02:00 fold=0",
        ],
        id="bratislava-spring-wildcard-skips-gap",
    ),
    pytest.param(
        "30 2 * * * *", "Europe/Bratislava", "2026-03-29T01:30", 2,
        ["2026-03-29T03:02:30+02:00 fold=0", "2026-03-29T04:02:30+02:00 fold=0"],
        id="bratislava-spring-seconds-field-wildcard-hour",
    ),
    # --- Bratislava, fall back ----------------------------------------------------------
    pytest.param(
        "30 2 * * *", "Europe/Bratislava", "2026-10-24T12:00", 2,
        ["2026-10-25T02:30:00+02:00 fold=0", "2026-10-26T02:30:00+01:00 fold=0"],
        id="bratislava-autumn-fixed-first-pass-only",
    ),
    pytest.param(
        "*/15 * * * *", "Europe/Bratislava", "2026-10-25T01:40", 10,
        [
            "2026-10-25T01:45:00+02:00 fold=0",
            "2026-10-25T02:00:00+02:00 fold=0",
            "2026-10-25T02:15:00+02:00 fold=0",
            "2026-10-25T02:30:00+02:00 fold=0",
            "2026-10-25T02:45:00+02:00 fold=0",
            "2026-10-25T02:00:00+01:00 fold=1",
            "2026-10-25T02:15:00+01:00 fold=1",
            "2026-10-25T02:30:00+01:00 fold=1",
            "2026-10-25T02:45:00+01:00 fold=1",
            "2026-10-25T03:00:00+01:00 fold=0",
        ],
        id="bratislava-autumn-wildcard-both-passes",
    ),
    pytest.param(
        "0 * * * *", "Europe/Bratislava", "2026-10-25T01:30", 3,
        [
            "2026-10-25T02:00:00+02:00 fold=0",
            "2026-10-25T02:00:00+01:00 fold=1",
            "2026-10-25T03:00:00+01:00 fold=0",
        ],
        id="bratislava-autumn-hourly-star-hour-is-wildcard",
    ),
    # --- New York -------------------------------------------------------------------------
    pytest.param(
        "30 2 * * *", "America/New_York", "2026-03-07T12:00", 2,
        ["2026-03-08T03:00:00-04:00 fold=0", "2026-03-09T02:30:00-04:00 fold=0"],
        id="new-york-spring-fixed",
    ),
    pytest.param(
        "0 * * * *", "America/New_York", "2026-03-08T00:30", 3,
        [
            "2026-03-08T01:00:00-05:00 fold=0",
            "2026-03-08T03:00:00-04:00 fold=0",
            "2026-03-08T04:00:00-04:00 fold=0",
        ],
        id="new-york-spring-hourly-skips",
    ),
    pytest.param(
        "30 1 * * *", "America/New_York", "2026-10-31T12:00", 2,
        ["2026-11-01T01:30:00-04:00 fold=0", "2026-11-02T01:30:00-05:00 fold=0"],
        id="new-york-autumn-fixed-first-pass",
    ),
    pytest.param(
        "*/30 * * * *", "America/New_York", "2026-11-01T00:45", 5,
        [
            "2026-11-01T01:00:00-04:00 fold=0",
            "2026-11-01T01:30:00-04:00 fold=0",
            "2026-11-01T01:00:00-05:00 fold=1",
            "2026-11-01T01:30:00-05:00 fold=1",
            "2026-11-01T02:00:00-05:00 fold=0",
        ],
        id="new-york-autumn-wildcard-both-passes",
    ),
    # --- Lord Howe: 30-minute shifts -----------------------------------------------------
    pytest.param(
        "15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", 2,
        ["2026-10-04T02:30:00+11:00 fold=0", "2026-10-05T02:15:00+11:00 fold=0"],
        id="lord-howe-spring-fixed-fires-at-0230",
    ),
    pytest.param(
        "*/15 * * * *", "Australia/Lord_Howe", "2026-10-04T01:30", 4,
        [
            "2026-10-04T01:45:00+10:30 fold=0",
            "2026-10-04T02:30:00+11:00 fold=0",
            "2026-10-04T02:45:00+11:00 fold=0",
            "2026-10-04T03:00:00+11:00 fold=0",
        ],
        id="lord-howe-spring-wildcard-skips-half-hour",
    ),
    pytest.param(
        "45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00", 2,
        ["2026-04-05T01:45:00+11:00 fold=0", "2026-04-06T01:45:00+10:30 fold=0"],
        id="lord-howe-autumn-fixed-first-pass",
    ),
    pytest.param(
        "*/15 * * * *", "Australia/Lord_Howe", "2026-04-05T01:10", 6,
        [
            "2026-04-05T01:15:00+11:00 fold=0",
            "2026-04-05T01:30:00+11:00 fold=0",
            "2026-04-05T01:45:00+11:00 fold=0",
            "2026-04-05T01:30:00+10:30 fold=1",
            "2026-04-05T01:45:00+10:30 fold=1",
            "2026-04-05T02:00:00+10:30 fold=0",
        ],
        id="lord-howe-autumn-wildcard-both-passes",
    ),
]


@pytest.mark.parametrize(("expr", "tz", "start", "count", "expected"), CASES)
def test_dst(expr: str, tz: str, start: str, count: int, expected: list[str]) -> None:
    assert series(Cron(expr, tz), start, count) == expected


def test_spring_jump_instant_in_utc() -> None:
    nxt = Cron("30 2 * * *", "Europe/Bratislava").next_after(datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert nxt is not None
    assert nxt.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_second_pass_is_a_distinct_instant() -> None:
    trigger = Cron("*/15 * * * *", "Europe/Bratislava")
    first = trigger.next_after(datetime(2026, 10, 25, 0, 40, tzinfo=UTC))  # 02:40+02:00
    second = trigger.next_after(datetime(2026, 10, 25, 0, 50, tzinfo=UTC))  # 02:50+02:00
    assert first is not None and second is not None
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 45, tzinfo=UTC)
    assert (second.isoformat(), second.fold) == ("2026-10-25T02:00:00+01:00", 1)
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after_utc", "expected_utc"),
    [
        pytest.param((2026, 10, 25, 0, 50), (2026, 10, 25, 1, 0), id="first-pass-to-second"),
        pytest.param((2026, 10, 25, 1, 5), (2026, 10, 25, 1, 15), id="inside-second-pass"),
        pytest.param((2026, 10, 25, 1, 50), (2026, 10, 25, 2, 0), id="end-of-second-pass"),
    ],
)
def test_wildcard_from_inside_repeated_hour(
    after_utc: tuple[int, ...], expected_utc: tuple[int, ...]
) -> None:
    trigger = Cron("*/15 * * * *", "Europe/Bratislava")
    nxt = trigger.next_after(datetime(*after_utc, tzinfo=UTC))
    assert nxt is not None and nxt.astimezone(UTC) == datetime(*expected_utc, tzinfo=UTC)


def test_fixed_from_inside_second_pass_waits_for_tomorrow() -> None:
    trigger = Cron("45 2 * * *", "Europe/Bratislava")
    nxt = trigger.next_after(datetime(2026, 10, 25, 1, 10, tzinfo=UTC))  # 02:10+01:00, fold 1
    assert nxt is not None
    assert (nxt.isoformat(), nxt.fold) == ("2026-10-26T02:45:00+01:00", 0)


def test_pytz_zone_same_rules() -> None:
    trigger = Cron("*/15 * * * *", pytz.timezone("Europe/Bratislava"))
    assert series(trigger, "2026-03-29T01:50", 1) == ["2026-03-29T03:00:00+02:00 fold=0"]


def test_daily_follows_fixed_rules() -> None:
    assert series(Daily("02:30", "Europe/Bratislava"), "2026-03-28T12:00", 1) == [
        "2026-03-29T03:00:00+02:00 fold=0"
    ]
    assert series(Daily("02:30", "Europe/Bratislava"), "2026-10-24T12:00", 2) == [
        "2026-10-25T02:30:00+02:00 fold=0",
        "2026-10-26T02:30:00+01:00 fold=0",
    ]


def test_utc_instants_strictly_increase_over_a_year() -> None:
    for expr in ("*/15 * * * *", "30 2 * * *", "0 * * * *", "15,45 1-3 * * *"):
        trigger = Cron(expr, "Europe/Bratislava")
        dt = datetime(2026, 1, 1, tzinfo=UTC)
        seen = 0
        while dt < datetime(2026, 12, 31, tzinfo=UTC) and seen < 40_000:
            nxt = trigger.next_after(dt)
            assert nxt is not None and nxt.astimezone(UTC) > dt.astimezone(UTC)
            dt = nxt
            seen += 1


# -- every minute around each transition, against a brute force from the README's rules ------

#: (zone, the transition instant in UTC, local hours around it): a fold (clocks back) and a
#: gap (clocks forward) in each zone; Lord Howe moves 30 minutes, Sydney and Santiago are in
#: the southern hemisphere, and Santiago's transitions sit on midnight, so its repeated hour
#: belongs to the day before.
TRANSITIONS = [
    ("Europe/Bratislava", (2026, 10, 25, 1, 0), [1, 2, 3]),
    ("Europe/Bratislava", (2028, 10, 29, 1, 0), [1, 2, 3]),
    ("Europe/Bratislava", (2026, 3, 29, 1, 0), [1, 2, 3]),
    ("America/New_York", (2026, 11, 1, 6, 0), [0, 1, 2]),
    ("America/New_York", (2026, 3, 8, 7, 0), [1, 2, 3]),
    ("Australia/Lord_Howe", (2026, 4, 4, 15, 0), [1, 2]),
    ("Australia/Lord_Howe", (2026, 10, 3, 15, 30), [1, 2, 3]),
    ("Australia/Sydney", (2026, 4, 4, 16, 0), [1, 2, 3]),
    ("Australia/Sydney", (2026, 10, 3, 16, 0), [1, 2, 3]),
    ("America/Santiago", (2026, 4, 5, 3, 0), [22, 23, 0]),
    ("America/Santiago", (2026, 9, 6, 4, 0), [23, 0, 1]),
]
#: the fires of one expression are compared from every minute (and half minute) in this
#: span around the transition: both passes of a fold, and the minutes before and after
AROUND = timedelta(minutes=75)


@st.composite
def minute_fields(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["star", "step", "value", "range", "list"]))
    if kind == "star":
        return "*"
    if kind == "step":
        return f"*/{draw(st.sampled_from([5, 7, 15, 20, 30]))}"
    if kind == "value":
        return str(draw(st.integers(0, 59)))
    if kind == "range":
        a = draw(st.integers(0, 59))
        return f"{a}-{draw(st.integers(a, 59))}"
    return ",".join(map(str, sorted(draw(st.sets(st.integers(0, 59), min_size=2, max_size=4)))))


@st.composite
def hour_fields(draw: st.DrawFn, near: list[int]) -> str:
    kind = draw(st.sampled_from(["star", "step", "near", "near", "range", "list"]))
    if kind == "star":
        return "*"
    if kind == "step":
        return f"*/{draw(st.sampled_from([2, 3, 5]))}"
    if kind == "near":
        return str(draw(st.sampled_from(near)))
    if kind == "range":  # a range that reaches the transition's hours
        a = draw(st.integers(0, min(near)))
        return f"{a}-{draw(st.integers(min(near), 23))}"
    return ",".join(map(str, sorted(draw(st.sets(st.sampled_from(near), min_size=2)))))


@st.composite
def transition_cases(draw: st.DrawFn) -> tuple[str, str, datetime]:
    tz, at, near = draw(st.sampled_from(TRANSITIONS))
    days = draw(st.sampled_from(["* * *", "* * *", "* * *", "* * SUN", "* * MON-FRI", "1-7 * *"]))
    expr = f"{draw(minute_fields())} {draw(hour_fields(near))} {days}"
    return expr, tz, datetime(*at, tzinfo=UTC)


@settings(max_examples=250)
@given(case=transition_cases())
def test_every_minute_around_transitions_matches_brute_force(
    case: tuple[str, str, datetime],
) -> None:
    """next_after from each minute and half minute around a transition, in five zones,
    agrees with a minute-by-minute walk written from the README's rules (cron_reference).

    Under the CI profile this catches, every run, a fixed-time job asked from inside the
    second pass of a repeated hour skipping the following hour's first matches (#9:
    ``32-57 1-13 * * *`` from 02:32+01:00 on 2028-10-29 gave 03:33 instead of 03:32).
    """
    expr, tz_name, at = case
    tz = ZoneInfo(tz_name)
    trigger = Cron(expr, tz)
    walk_from = at - AROUND - timedelta(hours=4, minutes=1)  # 4 hours only record wall times
    walk_to = at + timedelta(hours=50)
    fires = reference.fires_between(expr, tz, walk_from, walk_to)
    t = at - AROUND
    while t <= at + AROUND:
        for after in (t, t + timedelta(seconds=30)):
            got = trigger.next_after(after)
            assert got is not None and got.tzinfo is tz
            expected = reference.next_from(fires, after)
            if expected is None:  # nothing in the walk: the answer lies beyond it
                assert got.astimezone(UTC) > walk_to, (expr, after)
            else:
                assert got.astimezone(UTC) == expected, (expr, after.astimezone(tz))
        t += timedelta(minutes=1)


def test_fixed_from_second_pass_keeps_following_hour() -> None:
    """The issue's example (#9): the first pass is over, so the next fire is 03:32+01:00."""
    tz = ZoneInfo("Europe/Bratislava")
    trigger = Cron("32-57 1-13 * * *", tz)
    after = datetime(2028, 10, 29, 2, 32, tzinfo=tz, fold=1)  # 01:32 UTC
    assert series_from(trigger, after, 2) == [
        "2028-10-29T03:32:00+01:00 fold=0",
        "2028-10-29T03:33:00+01:00 fold=0",
    ]
    every = Cron("0-59 1-13 * * *", tz)  # fixed too: neither field starts with *
    assert series_from(every, after, 1) == ["2028-10-29T03:00:00+01:00 fold=0"]


def series_from(trigger: Trigger, after: datetime, count: int) -> list[str]:
    out = []
    for _ in range(count):
        nxt = trigger.next_after(after)
        assert nxt is not None
        out.append(f"{nxt.isoformat()} fold={nxt.fold}")
        after = nxt
    return out
