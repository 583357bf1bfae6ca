"""Times and rules in words: triggers ("at 02:30 every day, Europe/Bratislava"), relative
times ("in 4 min"), durations and the daylight-saving marks of a list of fire times.

Pure functions of their arguments (``now`` is always passed in); no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from .._tz import tz_name
from ..triggers import Trigger

__all__ = [
    "FireMark",
    "cron_words",
    "duration_words",
    "fires_with_marks",
    "local_time",
    "offset_words",
    "relative",
    "trigger_words",
]

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_NAMES = {d[:3].lower(): i for i, d in enumerate(_DAYS)}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_NUM = re.compile(r"^\d{1,2}$")


def _day(token: str) -> str | None:
    token = token.lower()
    if token in _DAY_NAMES:
        return _DAYS[_DAY_NAMES[token]]
    if _NUM.match(token) and int(token) <= 7:
        return _DAYS[int(token) % 7]
    return None


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _days_words(field: str) -> str | None:
    """``1-5`` -> ``Monday to Friday``; ``1,3`` -> ``on Monday and Wednesday``; ``sun`` ->
    ``every Sunday``; None when the field is anything else (steps, ``L``, ``#``)."""
    if "-" in field and "," not in field:
        lo, _, hi = field.partition("-")
        first, last = _day(lo), _day(hi)
        return f"{first} to {last}" if first and last else None
    days = [_day(part) for part in field.split(",")]
    if not all(days):
        return None
    names = [d for d in days if d]
    return f"every {names[0]}" if len(names) == 1 else "on " + _and(names)


def _clock(hour: str, minute: str) -> str:
    return f"{int(hour):02d}:{int(minute):02d}"


def cron_words(expression: str) -> str | None:
    """A common cron expression in words (``'30 2 * * *'`` -> ``'at 02:30 every day'``), or
    None when it is not one of the common shapes (the caller shows the expression)."""
    from ..triggers._cronspec import MACROS

    text = MACROS.get(expression.strip().lower(), expression.strip())
    fields = text.split()
    if len(fields) == 6:
        if fields[0] != "0":
            return None
        fields = fields[1:]
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    if minute == "*" and hour == "*" and (dom, month, dow) == ("*", "*", "*"):
        return "every minute"
    if (dom, month, dow) == ("*", "*", "*") and hour == "*":
        step = re.fullmatch(r"\*/(\d+)", minute)
        if step:
            return f"every {int(step.group(1))} minutes"
        if _NUM.match(minute):
            return f"every hour at minute {int(minute)}"
        return None
    if not _NUM.match(minute):
        return None
    step = re.fullmatch(r"\*/(\d+)", hour)
    if step and (dom, month, dow) == ("*", "*", "*"):
        return f"every {int(step.group(1))} hours at minute {int(minute)}"
    hours = hour.split(",")
    if not all(_NUM.match(x) and int(x) < 24 for x in hours) or int(minute) > 59:
        return None
    at = "at " + _and([_clock(x, minute) for x in hours])
    if (dom, month) == ("*", "*"):
        if dow == "*":
            return f"{at} every day"
        days = _days_words(dow)
        return f"{at} {days}" if days else None
    if dow != "*" or not _NUM.match(dom):
        return None
    if month == "*":
        return f"{at} on day {int(dom)} of every month"
    if _NUM.match(month) and 1 <= int(month) <= 12:
        return f"{at} every {_MONTHS[int(month) - 1]} {int(dom)}"
    return None


def trigger_words(trigger: Trigger, zone: tzinfo | None = None) -> str:
    """The rule in words with the zone it is read in: ``'at 02:30 every day,
    Europe/Bratislava'``; unusual rules fall back to :meth:`Trigger.describe`.

    :param zone: the job's zone, for triggers that have none of their own
    """
    from ..triggers.bounded import Until
    from ..triggers.calendar import CalendarInterval
    from ..triggers.cron import Cron
    from ..triggers.daily import Daily
    from ..triggers.once import Once

    where = trigger.timezone or zone
    suffix = f", {tz_name(where)}" if where is not None else ""
    if isinstance(trigger, Until):
        inner = trigger_words(trigger.trigger, zone)
        return f"{inner}, until {local_time(trigger.end, where)}"
    if isinstance(trigger, Cron):
        words = cron_words(trigger.expression)
        return (words or f"cron '{trigger.expression}'") + suffix
    if isinstance(trigger, Daily):
        return f"at {trigger.at} every day{suffix}"
    if isinstance(trigger, CalendarInterval):
        return f"every {trigger.days} days at {trigger.at}{suffix}"
    if isinstance(trigger, Once):
        return f"once, at {local_time(trigger.when, where)}"
    return trigger.describe()


def local_time(dt: datetime | None, zone: tzinfo | None, *, seconds: bool = True) -> str:
    """``2026-03-29 03:00:00 CEST`` in ``zone`` (the instant's own zone when None)."""
    if dt is None:
        return "-"
    local = dt.astimezone(zone) if zone is not None else dt
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    abbrev = local.tzname() or ""
    return f"{text} {abbrev}".rstrip()


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86_400:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 and hours < 10 else f"{hours} h"
    days, rest = divmod(int(seconds), 86_400)
    text = f"{days} day{'s' if days != 1 else ''}"
    return f"{text} {rest // 3600} h" if days < 3 and rest >= 3600 else text


def relative(dt: datetime | None, now: datetime) -> str:
    """``'in 4 min'``, ``'3 h ago'``, ``'now'`` (within a second); ``'-'`` for None."""
    if dt is None:
        return "-"
    delta = (dt - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


def duration_words(seconds: float | None) -> str:
    """``'350 ms'``, ``'4.2 s'``, ``'2 min 5 s'``, ``'1 h 3 min'``; ``'-'`` for None."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def offset_words(offset: timedelta | None) -> str:
    """``UTC+01:00``."""
    if offset is None:
        return "UTC"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _wall_of(dt: datetime, zone: tzinfo) -> datetime:
    """The wall time the instant ``dt`` shows in ``zone`` (through UTC: ``astimezone`` to
    the same tzinfo object returns ``dt`` unchanged, fold and all)."""
    return dt.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class FireMark:
    """One upcoming fire in the job's zone, with what is special about it (or None)."""

    when: datetime
    mark: str | None = None


def fires_with_marks(
    trigger: Trigger, after: datetime, zone: tzinfo, count: int = 10, *,
    since: datetime | None = None,
) -> list[FireMark]:
    """The next ``count`` fires after ``after`` in ``zone``, each marked when the zone's UTC
    offset changed since the one before (or since ``after``: a daylight-saving transition
    lies between them), or when its wall time is one that repeats (the hour that occurs
    twice when clocks go back).

    :param since: compare the first fire's offset with this instant's (default ``after``)
    """
    out: list[FireMark] = []
    previous = (since or after).astimezone(zone).utcoffset()
    cursor = after
    for _ in range(count):
        nxt = trigger.next_after(cursor)
        if nxt is None:
            break
        local = nxt.astimezone(zone)
        offset = local.utcoffset()
        marks = []
        if previous is not None and offset is not None and offset != previous:
            way = "forward" if offset > previous else "back"
            marks.append(
                f"clocks went {way} before this fire "
                f"({offset_words(previous)} to {offset_words(offset)})"
            )
        wall = local.replace(tzinfo=None)
        other = wall.replace(tzinfo=zone, fold=1 - local.fold)
        if other.utcoffset() != offset and _wall_of(other, zone) == wall:
            which = "second" if local.fold else "first"
            marks.append(f"this wall time occurs twice (clocks go back); this is the {which}")
        out.append(FireMark(local, "; ".join(marks) or None))
        previous = offset
        cursor = nxt
    return out
