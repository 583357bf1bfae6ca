"""Cron triggers, with cronie's daylight-saving rules.

A job whose minute or hour field starts with ``*`` (``*``, ``*/15``, ``@hourly``) is a
*wildcard* job: it follows real elapsed time. It fires at every matching local wall time that
exists, skips wall times that do not exist (spring forward) and fires in both passes of a
repeated hour (autumn; the second pass has ``fold=1``).

Every other job is *fixed-time*: a match inside a skipped interval fires once, at the instant
of the jump (``30 2 * * *`` in Europe/Bratislava on 2026-03-29 fires at 03:00+02:00); a match
inside a repeated interval fires once, in the first pass. Several matches that land on one
instant are one fire. The rules hold for shifts of any size (Australia/Lord_Howe moves 30
minutes).

How the search works, and why it is correct: wall times are searched field by field by
:class:`~scheduler.triggers._cronspec.CronSpec`. Mapping a wall time ``w`` to instants with
the pre-transition offset (``fold=0``) and with the post-transition one (``fold=1``) is each
monotone in ``w``, so the first matching wall time after the local time of ``dt`` that yields
an instant after ``dt`` gives the earliest such instant, with one exception handled apart:
when ``dt`` lies in the first pass of a repeated interval, the second pass of wall times
*before* ``dt``'s wall time is still in the future for a wildcard job.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from .._tz import UTC, tz_name, zone
from ..exceptions import InvalidTrigger
from . import Trigger
from ._cronspec import CronSpec, parse

__all__ = ["Cron"]


def _check_aware(dt: datetime) -> None:
    if not isinstance(dt, datetime):
        raise InvalidTrigger(f"next_after() needs an aware datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise InvalidTrigger(
            f"datetime {dt.isoformat()} is naive; pass an aware datetime "
            f"(e.g. datetime(..., tzinfo=ZoneInfo('Europe/Bratislava')))"
        )


def _offset_at(utc_naive: datetime, tz: tzinfo) -> timedelta:
    return tz.fromutc(utc_naive.replace(tzinfo=tz)).utcoffset()  # type: ignore[return-value]


def _transition(lo: datetime, hi: datetime, tz: tzinfo, after: timedelta) -> datetime:
    """The first instant (naive UTC, whole second) in ``(lo, hi]`` whose offset is ``after``.

    ``lo`` has the offset before the transition and ``hi`` the one after; transitions sit on
    whole seconds, so a bisection over seconds finds it exactly in ~12 steps. Only used on
    the two transition days a year.
    """
    lo_s, hi_s = 0, int((hi - lo).total_seconds())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset_at(lo + timedelta(seconds=mid), tz) == after:
            hi_s = mid
        else:
            lo_s = mid
    return lo + timedelta(seconds=hi_s)


def resolve_fixed(w: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """Map the naive wall time ``w`` with fixed-time rules: ``(instant as naive UTC, aware local)``.

    Existing time: itself. Repeated: the first pass. Skipped: the instant of the jump.
    """
    aware = w.replace(tzinfo=tz)
    off0 = aware.utcoffset()
    off1 = w.replace(tzinfo=tz, fold=1).utcoffset()
    assert off0 is not None and off1 is not None
    if off0 >= off1:
        return w - off0, aware
    jump = _transition(w - off1, w - off0, tz, off1)
    return jump, (jump + off1).replace(tzinfo=tz)


class Cron(Trigger):
    """Fire at the wall times a cron expression names, in one time zone.

    See :mod:`scheduler.triggers._cronspec` for the syntax and this module's docstring for the
    daylight-saving rules.

    :param expression: 5 fields, 6 with a leading seconds field, or a macro (``@daily``)
    :param timezone: a zone name, ``ZoneInfo``, pytz zone or fixed-offset tzinfo; None means
        the scheduler's default zone (UTC when the trigger is used on its own)
    :raises InvalidCronExpression: unparsable, or never fires (``0 0 30 2 *``)
    :raises InvalidTimezone: unknown zone
    """

    type_name = "cron"

    def __init__(self, expression: str, timezone: object = None) -> None:
        self._spec: CronSpec = parse(expression)
        self.expression: str = expression
        self.timezone: tzinfo | None = None if timezone is None else zone(timezone)

    @property
    def is_wildcard(self) -> bool:
        """True when the minute or hour field starts with ``*``: elapsed-time DST rules."""
        return self._spec.wildcard

    def with_default_timezone(self, tz: tzinfo) -> Cron:
        if self.timezone is not None:
            return self
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.timezone = zone(tz)
        return clone

    def next_after(self, dt: datetime) -> datetime | None:
        _check_aware(dt)
        tz = self.timezone or UTC
        spec = self._spec
        loc = dt.astimezone(tz)
        off = loc.utcoffset()
        assert off is not None
        best: datetime | None = None  # an earlier candidate, as naive UTC
        best_at: datetime | None = None

        # A wildcard job with dt in the first pass of a repeated interval: the second pass of
        # the wall times already seen is still ahead.
        if spec.wildcard and not loc.fold:
            off1 = loc.replace(fold=1).utcoffset()
            if off1 is not None and off1 < off:
                wall = loc.replace(tzinfo=None)
                floor = wall.replace(microsecond=0) - off
                jump = _transition(floor, floor + (off - off1), tz, off1)
                first = jump + off1
                found = spec.next_match(
                    first.year, first.month, first.day, first.hour, first.minute, first.second
                )
                if found is not None:
                    w = datetime(*found)
                    if w <= wall:
                        best, best_at = w - off1, w.replace(tzinfo=tz, fold=1)

        if loc.year == 9999 and loc.month == 12 and loc.day == 31:
            return best_at  # the calendar ends here; nothing (else) can come after
        # Strictly after dt: from the next whole second (next_match carries second 60 over).
        y, mo, d, h, mi, sec = loc.year, loc.month, loc.day, loc.hour, loc.minute, loc.second + 1
        while True:
            found = spec.next_match(y, mo, d, h, mi, sec)
            if found is None:
                break
            y, mo, d, h, mi, sec = found
            aware = datetime(y, mo, d, h, mi, sec, tzinfo=tz)
            off0 = aware.utcoffset()
            off1 = aware.replace(fold=1).utcoffset()
            assert off0 is not None and off1 is not None
            if off0 == off1:  # the common case: an ordinary wall time, after dt
                if best is None:
                    return aware
                instant, result = aware.replace(tzinfo=None) - off0, aware
            elif off0 > off1:  # repeated wall time
                now = loc.replace(tzinfo=None) - off
                w = aware.replace(tzinfo=None)
                if w - off0 > now:
                    instant, result = w - off0, aware
                elif spec.wildcard:
                    instant, result = w - off1, aware.replace(fold=1)
                else:
                    # First pass already gone. w is after dt's wall time, so dt is in the
                    # second pass: no wall time of this repeated interval fires again, and
                    # the first one after it (the interval's end, a post-transition wall
                    # time) is after dt. Not now + off0: that is past the interval's end by
                    # the time dt spent in the second pass, and skipped those fires (#9).
                    jump = _transition(w - off0, w - off1, tz, off1)
                    resume = jump + off0
                    y, mo, d = resume.year, resume.month, resume.day
                    h, mi, sec = resume.hour, resume.minute, resume.second
                    continue
            else:  # skipped wall time
                w = aware.replace(tzinfo=None)
                jump = _transition(w - off1, w - off0, tz, off1)
                if spec.wildcard:
                    resume = jump + off1
                    y, mo, d = resume.year, resume.month, resume.day
                    h, mi, sec = resume.hour, resume.minute, resume.second
                    continue
                instant, result = jump, (jump + off1).replace(tzinfo=tz)
            if best is None or instant < best:
                best_at = result
            break
        return best_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "expression": self.expression,
            "timezone": None if self.timezone is None else tz_name(self.timezone),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cron:
        return cls(data["expression"], timezone=data.get("timezone"))

    def describe(self) -> str:
        where = "default zone" if self.timezone is None else tz_name(self.timezone)
        return f"cron {self.expression!r} ({where})"
