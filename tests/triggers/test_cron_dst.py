"""cronie's daylight-saving rules, on real transition days.

Europe/Bratislava: 2026-03-29 02:00 -> 03:00 (CET -> CEST); 2026-10-25 03:00 -> 02:00.
America/New_York: 2026-03-08 02:00 -> 03:00; 2026-11-01 02:00 -> 01:00.
Australia/Lord_Howe (30-minute shift): 2026-04-05 02:00 -> 01:30; 2026-10-04 02:00 -> 02:30.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.triggers import Trigger
from scheduler.triggers._cronspec import parse
from scheduler.triggers.cron import Cron
from scheduler.triggers.daily import Daily

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


# -- wildcard jobs against a brute force over UTC minutes --------------------------------------

WILDCARD_EXPRS = ["*/15 * * * *", "0 * * * *", "*/7 1-3 * * *", "5,35 * * * SUN", "* 2 * * *"]
ZONES = ["Europe/Bratislava", "America/New_York", "Australia/Lord_Howe"]


def brute_wildcard(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first UTC minute after ``after`` whose local wall time matches: elapsed time."""
    spec = parse(expr)
    u = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while True:
        w = u.astimezone(tz)
        if spec.matches(w.year, w.month, w.day, w.hour, w.minute):
            return u
        u += timedelta(minutes=1)


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(WILDCARD_EXPRS),
    tz=st.sampled_from(ZONES),
    minutes=st.integers(-240, 240),
    day=st.sampled_from(
        [(2026, 3, 29), (2026, 10, 25), (2026, 3, 8), (2026, 11, 1), (2026, 4, 5), (2026, 10, 4)]
    ),
)
def test_wildcard_matches_elapsed_brute_force(
    expr: str, tz: str, minutes: int, day: tuple[int, int, int]
) -> None:
    zone = ZoneInfo(tz)
    after = datetime(*day, 2, 0, tzinfo=zone).astimezone(UTC) + timedelta(minutes=minutes)
    got = Cron(expr, zone).next_after(after)
    assert got is not None
    assert got.astimezone(UTC) == brute_wildcard(expr, zone, after)
