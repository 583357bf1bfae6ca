"""A slow, plain reference for the README's cron rules, for the property tests.

Written from the README's "Cron" and "Daylight saving (cronie's rules)" sections, not from
``scheduler.triggers``: it has its own field parser, checks one calendar day at a time with
``datetime.date`` arithmetic, and walks real time one UTC minute at a time, remembering which
wall times it has already seen. Nothing here imports the implementation; keep it that way, or
the property tests stop being able to disagree with it.

Only what the property tests generate is supported: five fields (no seconds field), and no
macros.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

UTC = timezone.utc
MINUTE = timedelta(minutes=1)

_MONTH_NAMES = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
_DAY_NAMES = "SUN MON TUE WED THU FRI SAT".split()


def _number(text: str, names: list[str], first: int) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + first
    return int(text)


def _plain_values(item: str, low: int, high: int, names: list[str], first: int) -> set[int]:
    """``*``, ``a``, ``a-b``, each with an optional ``/step``; ``a/s`` runs to the field's end.

    A step larger than the range keeps only the range's first value (README).
    """
    base, _, step_text = item.partition("/")
    step = int(step_text) if step_text else 1
    if base in ("*", "?"):
        start, stop = low, high
    elif "-" in base:
        a, b = base.split("-")
        start, stop = _number(a, names, first), _number(b, names, first)
    else:
        start = _number(base, names, first)
        stop = high if step_text else start
    values = set()
    v = start
    while v <= stop:
        values.add(v)
        v += step
    return values


@dataclass
class Rule:
    """One expression, as the README describes its parts."""

    minutes: set[int]
    hours: set[int]
    months: set[int]
    dom_items: list[str]
    dow_items: list[str]
    dom_starts_with_star: bool
    dow_starts_with_star: bool
    wildcard: bool


def rule(expression: str) -> Rule:
    minute, hour, dom, month, dow = expression.split()
    return Rule(
        minutes=set().union(*(_plain_values(i, 0, 59, [], 0) for i in minute.split(","))),
        hours=set().union(*(_plain_values(i, 0, 23, [], 0) for i in hour.split(","))),
        months=set().union(*(_plain_values(i, 1, 12, _MONTH_NAMES, 1) for i in month.split(","))),
        dom_items=dom.split(","),
        dow_items=dow.split(","),
        dom_starts_with_star=dom.startswith(("*", "?")),
        dow_starts_with_star=dow.startswith(("*", "?")),
        # "A job whose minute or hour field starts with * is a wildcard job."
        wildcard=minute.startswith("*") or hour.startswith("*"),
    )


def _last_day(day: date) -> date:
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _cron_weekday(day: date) -> int:
    return day.isoweekday() % 7  # Sunday = 0


def _nearest_weekday(target: date) -> date:
    """The Monday-Friday day nearest ``target``, never leaving its month."""
    if target.isoweekday() <= 5:
        return target
    if target.isoweekday() == 6:  # Saturday: the Friday before, unless that is last month
        friday = target - timedelta(days=1)
        return friday if friday.month == target.month else target + timedelta(days=2)
    monday = target + timedelta(days=1)  # Sunday: the Monday after, unless that is next month
    return monday if monday.month == target.month else target - timedelta(days=2)


def _dom_item_matches(item: str, day: date) -> bool:
    last = _last_day(day)
    upper = item.upper()
    if upper == "L":
        return day == last
    if upper == "LW":
        return day == _nearest_weekday(last)
    if upper.startswith("L-"):
        return day == last - timedelta(days=int(upper[2:]))
    if upper.endswith("W"):
        n = int(upper[:-1])
        return n <= last.day and day == _nearest_weekday(day.replace(day=n))
    return day.day in _plain_values(item, 1, 31, [], 1)


def _dow_item_matches(item: str, day: date) -> bool:
    weekday = _cron_weekday(day)
    if "#" in item:  # n#k: the k-th weekday n of the month
        name, k = item.split("#")
        if weekday != _number(name, _DAY_NAMES, 0) % 7:
            return False
        nth = 1 + sum(
            1 for back in range(1, 6) if (day - timedelta(days=7 * back)).month == day.month
        )
        return nth == int(k)
    if item.upper().endswith("L") and item.upper() not in _DAY_NAMES:
        # nL: weekday n, and no later weekday n in this month
        return (
            weekday == _number(item[:-1], _DAY_NAMES, 0) % 7
            and (day + timedelta(days=7)).month != day.month
        )
    return weekday in {v % 7 for v in _plain_values(item, 0, 7, _DAY_NAMES, 0)}


def day_matches(r: Rule, day: date) -> bool:
    """Vixie's rule: both day fields restricted, either matches; one starts with ``*``, both."""
    if day.month not in r.months:
        return False
    dom_ok = any(_dom_item_matches(item, day) for item in r.dom_items)
    dow_ok = any(_dow_item_matches(item, day) for item in r.dow_items)
    if r.dom_starts_with_star or r.dow_starts_with_star:
        return dom_ok and dow_ok
    return dom_ok or dow_ok


def wall_matches(r: Rule, wall: datetime) -> bool:
    return wall.minute in r.minutes and wall.hour in r.hours and day_matches(r, wall.date())


def next_utc(expression: str, after: datetime, max_days: int) -> datetime | None:
    """The first matching minute after ``after`` in UTC, looking at most ``max_days`` days on.

    Day by day (a day that does not match is skipped whole), then minute by minute within a
    matching day.
    """
    r = rule(expression)
    start = after.astimezone(UTC).replace(second=0, microsecond=0, tzinfo=None) + MINUTE
    day = start.date()
    for _ in range(max_days + 1):
        if day_matches(r, day):
            t = max(start, datetime(day.year, day.month, day.day))
            while t.date() == day:
                if t.minute in r.minutes and t.hour in r.hours:
                    return t.replace(tzinfo=UTC)
                t += MINUTE
        day += timedelta(days=1)
    return None


def fires_between(expression: str, tz: tzinfo, start: datetime, end: datetime) -> list[datetime]:
    """Every fire instant (aware UTC) in ``(start + 4 h, end]``, walking UTC minutes.

    The README's DST rules, applied to each UTC minute ``u`` and its local wall time ``w``:

    - the wall times the clock jumped over since the previous minute (spring forward) exist
      for nobody: a wildcard job never fires for them; a fixed-time job whose match lies among
      them fires once, at ``u``, the instant of the jump;
    - ``w`` already seen during the walk (the second pass of a repeated hour): a wildcard job
      fires again if ``w`` matches; a fixed-time job does not (it fired in the first pass);
    - otherwise a job fires at ``u`` when ``w`` matches.

    The first 4 hours only record the wall times seen, so that a repeated hour's first pass is
    known; ``start`` and ``end`` are whole UTC minutes.
    """
    r = rule(expression)
    record_from = start + timedelta(hours=4)
    seen: set[datetime] = set()
    out = []
    u = start
    previous: datetime | None = None
    while u <= end:
        w = u.astimezone(tz).replace(tzinfo=None)
        fire = False
        if w in seen:  # second pass
            fire = r.wildcard and wall_matches(r, w)
        else:
            fire = wall_matches(r, w)
            if previous is not None and not r.wildcard:
                skipped = previous + MINUTE
                while skipped < w:
                    fire = fire or wall_matches(r, skipped)
                    skipped += MINUTE
        seen.add(w)
        previous = w
        if fire and u > record_from:
            out.append(u)
        u += MINUTE
    return out


def next_from(fires: list[datetime], after: datetime) -> datetime | None:
    """The first of the sorted ``fires`` strictly after ``after`` (None: past the list)."""
    i = bisect_right(fires, after)
    return fires[i] if i < len(fires) else None
