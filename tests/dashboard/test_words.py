"""Rules and times in words, and the daylight-saving marks of upcoming fires."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from scheduler.dashboard import duration_words, fires_with_marks, relative, trigger_words
from scheduler.triggers.bounded import Until
from scheduler.triggers.calendar import CalendarInterval
from scheduler.triggers.cron import Cron
from scheduler.triggers.daily import Daily
from scheduler.triggers.interval import Interval
from scheduler.triggers.once import Once

BA = ZoneInfo("Europe/Bratislava")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("30 2 * * *", "at 02:30 every day"),
        ("*/5 * * * *", "every 5 minutes"),
        ("* * * * *", "every minute"),
        ("0 9 * * 1-5", "at 09:00 Monday to Friday"),
        ("0 9 * * mon-fri", "at 09:00 Monday to Friday"),
        ("0 9 * * 0", "at 09:00 every Sunday"),
        ("0 8,20 * * mon,wed,fri", "at 08:00 and 20:00 on Monday, Wednesday and Friday"),
        ("0 3 1 * *", "at 03:00 on day 1 of every month"),
        ("0 0 25 12 *", "at 00:00 every December 25"),
        ("15 */2 * * *", "every 2 hours at minute 15"),
        ("7 * * * *", "every hour at minute 7"),
        ("@daily", "at 00:00 every day"),
        ("0 30 2 * * *", "at 02:30 every day"),
    ],
)
def test_common_cron_expressions_read_as_words(expression: str, words: str) -> None:
    assert trigger_words(Cron(expression, timezone=BA)) == f"{words}, Europe/Bratislava"


@pytest.mark.parametrize("expression", ["*/7 3 * * *", "0 9 L * *", "0 9 * * 5#3", "5 4 * * 1/2"])
def test_unusual_cron_expressions_show_the_expression(expression: str) -> None:
    assert trigger_words(Cron(expression, timezone=BA)) == f"cron '{expression}', Europe/Bratislava"


def test_a_trigger_without_a_zone_is_read_in_the_jobs_zone() -> None:
    assert trigger_words(Cron("30 2 * * *"), BA) == "at 02:30 every day, Europe/Bratislava"
    assert trigger_words(Cron("30 2 * * *")) == "at 02:30 every day"


def test_other_triggers_in_words() -> None:
    assert trigger_words(Daily("02:30", timezone=BA)) == "at 02:30 every day, Europe/Bratislava"
    assert trigger_words(Interval(minutes=5)) == "every 5 minutes"
    assert trigger_words(CalendarInterval(days=3, at="04:00", timezone=BA)) == (
        "every 3 days at 04:00, Europe/Bratislava")
    once = Once(datetime(2026, 12, 24, 18, 0, tzinfo=BA))
    assert trigger_words(once) == "once, at 2026-12-24 18:00:00 CET"
    until = Until(Cron("0 9 * * *", timezone=BA), datetime(2027, 1, 1, tzinfo=BA))
    assert trigger_words(until) == (
        "at 09:00 every day, Europe/Bratislava, until 2027-01-01 00:00:00 CET")


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(0), "now"),
        (timedelta(seconds=0.4), "now"),
        (timedelta(seconds=45), "in 45 s"),
        (timedelta(minutes=4, seconds=30), "in 4 min"),
        (timedelta(hours=2, minutes=5), "in 2 h 5 min"),
        (timedelta(hours=15), "in 15 h"),
        (timedelta(days=3, hours=1), "in 3 days"),
        (timedelta(days=1), "in 1 day"),
        (-timedelta(minutes=3), "3 min ago"),
        (-timedelta(hours=26), "1 day 2 h ago"),
        (timedelta(days=2, hours=23, minutes=59), "in 2 days 23 h"),
        (-timedelta(hours=24, minutes=30), "1 day ago"),
    ],
)
def test_relative_times(delta: timedelta, words: str) -> None:
    assert relative(NOW + delta, NOW) == words


def test_relative_of_nothing_is_a_dash() -> None:
    assert relative(None, NOW) == "-"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "-"), (0.35, "350 ms"), (4.21, "4.2 s"), (125, "2 min 5 s"), (3780, "1 h 3 min")],
)
def test_durations(seconds: float | None, words: str) -> None:
    assert duration_words(seconds) == words


def test_spring_forward_is_marked_on_the_first_fire_after_it() -> None:
    # 2026-03-29: Bratislava skips 02:00-03:00; a 02:30 job fires at 03:00 that day.
    fires = fires_with_marks(Cron("30 2 * * *", timezone=BA),
                             datetime(2026, 3, 26, tzinfo=timezone.utc), BA, 5)
    marked = [(f.when.isoformat(), f.mark) for f in fires if f.mark]
    assert marked == [("2026-03-29T03:00:00+02:00",
                       "clocks went forward before this fire (UTC+01:00 to UTC+02:00)")]
    assert len(fires) == 5


def test_fall_back_marks_both_passes_of_the_repeated_hour() -> None:
    # 2026-10-25: 02:00-03:00 happens twice in Bratislava; an hourly :30 job fires in both.
    fires = fires_with_marks(Cron("30 * * * *", timezone=BA),
                             datetime(2026, 10, 24, 23, 0, tzinfo=timezone.utc), BA, 4)
    rows = [(f.when.strftime("%H:%M"), f.when.fold, f.mark or "") for f in fires]
    assert rows[0] == ("01:30", 0, "")
    assert rows[1][:2] == ("02:30", 0) and "occurs twice" in rows[1][2]
    assert "first" in rows[1][2]
    assert rows[2][:2] == ("02:30", 1) and "clocks went back" in rows[2][2]
    assert "second" in rows[2][2]
    assert rows[3] == ("03:30", 0, "")


def test_the_first_fire_is_compared_with_since() -> None:
    # Listed from the next fire, but "now" was still in winter time.
    first = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)  # 03:00 CEST
    fires = fires_with_marks(Cron("0 3 * * *", timezone=BA), first - timedelta(microseconds=1),
                             BA, 1, since=datetime(2026, 3, 28, 12, tzinfo=timezone.utc))
    assert fires[0].mark is not None and "forward" in fires[0].mark


def test_a_finished_trigger_lists_no_fires() -> None:
    once = Once(datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert fires_with_marks(once, NOW, BA) == []
