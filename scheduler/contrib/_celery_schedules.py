"""Celery's schedule objects to our triggers (for :mod:`scheduler.contrib.celery`).

Read Celery's own semantics, not cron's, and say where ours differ:

* ``crontab(minute, hour, day_of_week, day_of_month, month_of_year)``: the fields are parsed by
  Celery itself (strings, ranges, steps, names, ints, sets); we take its parsed sets.
  ``day_of_week`` 0 is Sunday, as in cron. Celery fires on a day only when BOTH day fields
  match; cron fires when EITHER does if both are restricted. With one of them ``*`` the two
  agree. With both restricted we write the rule with cron's ``#`` (n-th weekday) when the days
  of the month are whole weeks (``1-7`` is the first week: "first Monday" is ``1#1``), and
  refuse anything else, naming the entry.
* Daylight saving follows our cron rules (cronie's), not Celery's: a fixed time inside a
  skipped hour fires once at the jump, inside a repeated hour once, in the first pass.
* ``schedule(run_every)``, a number of seconds or a ``timedelta``: an :class:`Interval`, counted
  from the job's first registration in the store (Celery counts from the beat's last run).
  ``relative=True`` (Celery rounds each due time down to the interval's resolution: seconds,
  minutes, hours or days) becomes fires aligned on whole minutes / hours (counted from
  2000-01-01 00:00 in the app's zone), or at local midnight every N days.
* ``solar`` is refused, naming the entry.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ..exceptions import ConfigurationError, InvalidCronExpression, InvalidTrigger
from ..triggers import Trigger
from ..triggers.calendar import CalendarInterval
from ..triggers.cron import Cron
from ..triggers.interval import Interval

__all__ = ["BeatEntryError", "to_trigger"]

_STEP = re.compile(r"^\*/(\d+)$")
#: the days of the month in which the n-th weekday of a month falls
_WEEKS = {n: set(range(7 * n - 6, min(7 * n, 31) + 1)) for n in range(1, 6)}
#: aligned schedules count from here (any fixed instant works: it only sets the phase)
_ALIGN_FROM = (2000, 1, 1)


class BeatEntryError(ConfigurationError):
    """A ``beat_schedule`` entry that cannot be run; names the entry."""

    def __init__(self, entry: str, problem: str) -> None:
        self.entry = entry
        self.problem = problem
        super().__init__(f"beat_schedule entry {entry!r}: {problem}")


def to_trigger(entry: str, value: Any, relative: bool, tz: tzinfo) -> Trigger:
    """The trigger for a ``beat_schedule`` entry's ``schedule`` value.

    :param relative: the entry's ``relative`` (used for numbers and timedeltas; a
        ``schedule`` object carries its own)
    :raises BeatEntryError: a solar or unknown schedule type, or a crontab we cannot express
    """
    from celery import schedules

    if isinstance(value, schedules.solar):
        raise BeatEntryError(
            entry,
            f"solar schedules ({getattr(value, 'event', 'solar')}) are not supported; use a "
            f"crontab at the local time you want, or keep this entry in a separate celery beat",
        )
    if isinstance(value, schedules.crontab):
        return _crontab(entry, value, tz)
    if isinstance(value, schedules.schedule):
        return _every(entry, value.run_every, bool(value.relative), tz)
    if isinstance(value, timedelta):
        return _every(entry, value, relative, tz)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _every(entry, timedelta(seconds=value), relative, tz)
    raise BeatEntryError(
        entry,
        f"unknown schedule type {type(value).__module__}.{type(value).__qualname__} "
        f"({value!r}); use celery.schedules.crontab, celery.schedules.schedule, a number of "
        f"seconds or a datetime.timedelta",
    )


def _every(entry: str, every: timedelta, relative: bool, tz: tzinfo) -> Trigger:
    seconds = every.total_seconds()
    try:
        if not relative or seconds < 60:  # Celery's relative rounds nothing below a minute
            return Interval(seconds=seconds)
        if seconds % 86400 == 0:
            start = datetime(*_ALIGN_FROM, tzinfo=tz)
            return CalendarInterval(days=int(seconds // 86400), timezone=tz, start=start)
        return Interval(seconds=seconds, start=datetime(*_ALIGN_FROM, tzinfo=tz))
    except InvalidTrigger as exc:
        raise BeatEntryError(entry, f"bad interval {every!r}: {exc}") from None


def _field(values: Any, original: Any, low: int, high: int) -> str:
    """One cron field from Celery's parsed set; ``*`` and ``*/n`` kept as written, so the
    DST class (wildcard or fixed-time) is the one the user wrote."""
    got = sorted(int(v) for v in values)
    if got == list(range(low, high + 1)):
        return "*"
    if isinstance(original, str):
        step = _STEP.match(original.strip())
        if step and got == list(range(low, high + 1, int(step.group(1)))):
            return original.strip()
    return ",".join(str(v) for v in got)


def _crontab(entry: str, cron: Any, tz: tzinfo) -> Cron:
    minute = _field(cron.minute, cron._orig_minute, 0, 59)
    hour = _field(cron.hour, cron._orig_hour, 0, 23)
    month = _field(cron.month_of_year, cron._orig_month_of_year, 1, 12)
    dom_set = {int(v) for v in cron.day_of_month}
    dow_set = {int(v) for v in cron.day_of_week}
    if dom_set != set(range(1, 32)) and dow_set != set(range(7)):
        # Celery: both must match. Cron would OR them, so say it with n-th weekdays.
        weeks = [n for n, days in _WEEKS.items() if days <= dom_set]
        if set().union(*(_WEEKS[n] for n in weeks)) != dom_set:
            raise BeatEntryError(
                entry,
                f"crontab restricts both day_of_month ({cron._orig_day_of_month!r}) and "
                f"day_of_week ({cron._orig_day_of_week!r}); Celery runs only on days matching "
                f"both, which a cron expression can say only when day_of_month is made of "
                f"whole weeks (1-7, 8-14, 15-21, 22-28, 29-31: '1-7' with a weekday is 'the "
                f"first <weekday>'); split the entry or restrict one field only",
            )
        dom = "*"
        dow = ",".join(f"{d}#{n}" for d in sorted(dow_set) for n in weeks)
    else:
        dom = _field(dom_set, cron._orig_day_of_month, 1, 31)
        dow = _field(dow_set, cron._orig_day_of_week, 0, 6)
    expression = f"{minute} {hour} {dom} {month} {dow}"
    try:
        return Cron(expression, timezone=tz)
    except InvalidCronExpression as exc:
        problem = f"bad crontab {cron!r} (as cron {expression!r}): {exc}"
        raise BeatEntryError(entry, problem) from None
