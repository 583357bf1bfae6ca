from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from scheduler.exceptions import InvalidTrigger
from scheduler.triggers import coerce, from_dict
from scheduler.triggers.interval import Interval, RandomInterval

UTC = timezone.utc
BRATISLAVA = ZoneInfo("Europe/Bratislava")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"seconds": 30}, timedelta(seconds=30)),
        ({"minutes": 1.5}, timedelta(seconds=90)),
        ({"hours": 2, "minutes": 30}, timedelta(hours=2, minutes=30)),
        ({"days": 1, "weeks": 1}, timedelta(days=8)),
        ({"seconds": 0.001}, timedelta(milliseconds=1)),  # the minimum (#10)
    ],
)
def test_interval_length(kwargs: dict[str, float], expected: timedelta) -> None:
    assert Interval(**kwargs).interval == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="zero"),
        pytest.param({"seconds": -5}, id="negative"),
        pytest.param({"minutes": 1, "seconds": -60}, id="sums-to-zero"),
    ],
)
def test_non_positive_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidTrigger, match="interval must be positive"):
        Interval(**kwargs)


def test_non_number_rejected() -> None:
    with pytest.raises(InvalidTrigger, match="seconds must be a number"):
        Interval(seconds="5")  # type: ignore[arg-type]


def test_naive_start_and_end_rejected() -> None:
    with pytest.raises(InvalidTrigger, match=r"start .* naive"):
        Interval(seconds=5, start=datetime(2026, 1, 1))
    with pytest.raises(InvalidTrigger, match=r"end .* naive"):
        Interval(seconds=5, end=datetime(2026, 1, 1))
    with pytest.raises(InvalidTrigger, match="before start"):
        Interval(seconds=5, start=utc(2026, 1, 2), end=utc(2026, 1, 1))


def test_naive_dt_rejected() -> None:
    with pytest.raises(InvalidTrigger, match="naive"):
        Interval(seconds=5).next_after(datetime(2026, 1, 1))


def test_with_start() -> None:
    trigger = Interval(minutes=10, start=utc(2026, 1, 1, 12))
    assert trigger.next_after(utc(2026, 1, 1, 11)) == utc(2026, 1, 1, 12)  # start itself
    assert trigger.next_after(utc(2026, 1, 1, 12)) == utc(2026, 1, 1, 12, 10)  # strictly after
    assert trigger.next_after(utc(2026, 1, 1, 12, 25)) == utc(2026, 1, 1, 12, 30)
    assert trigger.next_after(utc(2026, 1, 1, 12, 29, 59, 999999)) == utc(2026, 1, 1, 12, 30)


def test_without_start_counts_from_dt() -> None:
    assert Interval(seconds=90).next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 0, 1, 30)


def test_anchored() -> None:
    trigger = Interval(hours=1)
    anchored = trigger.anchored(utc(2026, 1, 1, 0, 20))
    assert anchored.start == utc(2026, 1, 1, 0, 20) and trigger.start is None
    assert anchored.next_after(utc(2026, 1, 1, 5)) == utc(2026, 1, 1, 5, 20)
    fixed = Interval(hours=1, start=utc(2026, 1, 1))
    assert fixed.anchored(utc(2030, 1, 1)) is fixed


def test_end_is_inclusive() -> None:
    trigger = Interval(minutes=30, start=utc(2026, 1, 1), end=utc(2026, 1, 1, 1))
    assert trigger.next_after(utc(2026, 1, 1, 0, 40)) == utc(2026, 1, 1, 1)
    assert trigger.next_after(utc(2026, 1, 1, 1)) is None


def test_elapsed_time_across_dst() -> None:
    trigger = Interval(hours=1, start=datetime(2026, 3, 29, 1, 0, tzinfo=BRATISLAVA))
    nxt = trigger.next_after(datetime(2026, 3, 29, 1, 0, tzinfo=BRATISLAVA))
    assert nxt is not None
    assert nxt.astimezone(BRATISLAVA).isoformat() == "2026-03-29T03:00:00+02:00"


def test_exact_arithmetic_far_away() -> None:
    trigger = Interval(seconds=0.1, start=utc(2000, 1, 1))
    assert trigger.next_after(utc(2100, 1, 1)) == utc(2100, 1, 1, 0, 0, 0, 100000)
    seven = Interval(seconds=7, start=utc(1990, 1, 1))
    far = seven.next_after(utc(2300, 6, 1, 12, 0, 1))
    assert far is not None and (far - utc(1990, 1, 1)) % timedelta(seconds=7) == timedelta(0)


def test_result_is_utc() -> None:
    nxt = Interval(seconds=5).next_after(datetime(2026, 1, 1, tzinfo=BRATISLAVA))
    assert nxt is not None and nxt.tzinfo is UTC


def test_dict_round_trip_and_describe() -> None:
    for trigger in (
        Interval(seconds=0.25),
        Interval(minutes=90, start=utc(2026, 1, 1), end=utc(2027, 1, 1)),
        Interval(weeks=2, start=datetime(2026, 1, 1, tzinfo=BRATISLAVA)),
    ):
        again = from_dict(trigger.to_dict())
        assert again == trigger and again.to_dict() == trigger.to_dict()
        assert again.next_after(utc(2026, 5, 5)) == trigger.next_after(utc(2026, 5, 5))
    assert Interval(minutes=90).describe() == "every 90 minutes"
    assert Interval(hours=2).describe() == "every 2 hours"
    assert Interval(seconds=1.5).describe() == "every 1.5 seconds"


def test_coerce_timedelta() -> None:
    trigger = coerce(timedelta(minutes=5))
    assert isinstance(trigger, Interval) and trigger.interval == timedelta(minutes=5)
    with pytest.raises(InvalidTrigger, match="cannot use"):
        coerce(5)


# -- RandomInterval -------------------------------------------------------------------------


def test_random_interval_gaps_within_bounds_and_deterministic() -> None:
    start = utc(2026, 1, 1)
    low, high = timedelta(seconds=10), timedelta(seconds=20)
    trigger = RandomInterval(low, high, seed="app.jobs:poll", start=start)
    same = RandomInterval(low, high, seed="app.jobs:poll", start=start)
    other = RandomInterval(low, high, seed="app.jobs:other", start=start)
    dt = start
    fires = []
    for _ in range(200):
        nxt = trigger.next_after(dt)
        assert nxt is not None and nxt > dt
        assert same.next_after(dt) == nxt
        fires.append(nxt)
        dt = nxt
    gaps = [b - a for a, b in pairwise(fires)]
    assert all(low <= gap <= high for gap in gaps)
    assert len(set(gaps)) > 10  # actually random
    assert [other.next_after(f) for f in fires[:5]] != fires[1:6]
    # from any instant in between, the next fire is one of the same series
    assert trigger.next_after(fires[50] + timedelta(seconds=1)) == fires[51]


def test_random_interval_unanchored_and_errors() -> None:
    trigger = RandomInterval(timedelta(seconds=10), timedelta(seconds=20))
    nxt = trigger.next_after(utc(2026, 1, 1))
    assert nxt is not None and utc(2026, 1, 1, 0, 0, 10) <= nxt <= utc(2026, 1, 1, 0, 0, 20)
    assert trigger.anchored(utc(2026, 1, 1)).start == utc(2026, 1, 1)
    with pytest.raises(InvalidTrigger, match="shorter"):
        RandomInterval(timedelta(seconds=20), timedelta(seconds=10))
    with pytest.raises(InvalidTrigger, match="positive"):
        RandomInterval(timedelta(0), timedelta(seconds=10))
    again = from_dict(trigger.anchored(utc(2026, 1, 1)).to_dict())
    assert again == trigger.anchored(utc(2026, 1, 1))
    assert trigger.describe() == "every 10 seconds to 20 seconds"
