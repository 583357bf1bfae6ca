"""RandomInterval as the scheduler uses it (anchored): surviving mutants of mutmut's run
(docs/testing.md) showed that the anchored path's arithmetic was not pinned."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from scheduler.triggers.interval import RandomInterval

START = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
LOW, HIGH = timedelta(seconds=10), timedelta(seconds=20)


def fires(trigger: RandomInterval, after: datetime, n: int) -> list[datetime]:
    out = []
    for _ in range(n):
        after = trigger.next_after(after)  # type: ignore[assignment]
        out.append(after)
    return out


def test_fire_times_do_not_change_between_versions() -> None:
    """Processes agree on the fire times because they compute the same ones; a rolling
    upgrade runs two versions side by side, so the times are pinned (any change to them is
    a breaking change, to be written in CHANGES.md)."""
    trigger = RandomInterval(LOW, HIGH, seed="app.jobs:poll", start=START)
    assert [f.isoformat() for f in fires(trigger, START, 4)] == [
        "2026-03-02T12:00:02.662766+00:00",
        "2026-03-02T12:00:16.510774+00:00",
        "2026-03-02T12:00:33.600700+00:00",
        "2026-03-02T12:00:46.795770+00:00",
    ]


def test_gaps_stay_within_bounds_and_next_after_is_strictly_later() -> None:
    trigger = RandomInterval(LOW, HIGH, seed="s", start=START)
    times = fires(trigger, START - timedelta(hours=1), 1000)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(LOW <= gap <= HIGH for gap in gaps)
    assert START <= times[0] <= START + (HIGH - LOW) / 2
    # asked at a fire time, just before it, or far ahead: the first fire strictly after
    for i in (0, 1, 17, 500, 998):
        assert trigger.next_after(times[i]) == times[i + 1]
        assert trigger.next_after(times[i + 1] - timedelta(microseconds=1)) == times[i + 1]
    assert trigger.next_after(times[-1]) > times[-1]


def test_a_fixed_gap_fires_on_the_anchor_grid() -> None:
    """low == high: no randomness left, a plain grid from the anchor (the anchor itself is
    fire 0, so asking at the anchor gives the next one)."""
    gap = timedelta(seconds=15)
    trigger = RandomInterval(gap, gap, seed="any", start=START)
    assert trigger.next_after(START - timedelta(seconds=1)) == START
    assert fires(trigger, START, 3) == [START + gap, START + 2 * gap, START + 3 * gap]
