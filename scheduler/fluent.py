"""The ``schedule`` library's vocabulary on top of our triggers, and adoption of its jobs.

::

    sched.every(10).minutes.do(poll)
    sched.every().day.at("02:30", "Europe/Bratislava").do(backup)
    sched.every().monday.at("09:00").tag("reports").do(weekly_report)
    sched.every(5).to(10).seconds.do(jittery)
    sched.every().hour.at(":15").until("18:00").do(tick)

What each phrase becomes (so the DST behaviour is the triggers' documented one):

=========================================  ==================================================
``every(n).seconds|minutes|hours``          :class:`Interval` (elapsed time, anchored at the
                                            job's first registration by the scheduler)
``every(n).days|weeks`` without ``at``      :class:`Interval` of n days / weeks
``every().day.at(t, tz)``                   :class:`Daily` (fixed-time DST rules)
``every(n).days.at(t)``, ``every(n).weeks`` :class:`CalendarInterval`: every n local
``.at(t)``                                  calendar days (7n for weeks) from registration
``every().monday.at(t)``                    :class:`Cron` ``S M H * * 1`` (``00:00`` without
                                            ``at``, where ``schedule`` would keep the time of
                                            registration)
``every(n).hours.at(":MM")``                :class:`Cron` ``0 MM */n * * *``: hours counted
                                            from local midnight (same as n == 1 for n = 1)
``every(n).minutes.at(":SS")``              :class:`Cron` ``SS */n * * * *``
``every(a).to(b).<unit>``                   :class:`RandomInterval`: gaps in [a, b], the same
                                            in every process (seeded by the job function)
``.until(x)``                               wraps any of the above in :class:`Until`
=========================================  ==================================================

Unlike ``schedule``, nothing here is stateful: the builder only picks a trigger, and
``.do()`` hands it to ``scheduler.add_job``. Naive datetimes and times given to ``until``
are read in the ``at`` zone if one was given, else the scheduler's ``timezone`` attribute if
it has one, else the machine's local zone (which is what ``schedule`` does).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from ._tz import UTC, zone
from .exceptions import InvalidTrigger
from .triggers import Trigger
from .triggers.bounded import Until
from .triggers.calendar import CalendarInterval
from .triggers.cron import Cron
from .triggers.daily import Daily
from .triggers.interval import Interval, RandomInterval

__all__ = ["Every", "adopt"]

_UNITS = ("seconds", "minutes", "hours", "days", "weeks")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CRON_DOW = {name: (i + 1) % 7 for i, name in enumerate(_WEEKDAYS)}

_AT_FORMATS = {
    "days": (re.compile(r"^[0-2]\d:[0-5]\d(:[0-5]\d)?$"), "HH:MM or HH:MM:SS"),
    "hours": (re.compile(r"^([0-5]\d)?:[0-5]\d$"), "MM:SS or :MM"),
    "minutes": (re.compile(r"^:[0-5]\d$"), ":SS"),
}


class Every:
    """A job description in ``schedule``'s words; ``.do()`` schedules it.

    Built by ``Scheduler.every(interval)``. Every method returns the builder, except ``.do``
    which returns the :class:`~scheduler.job.Job` from ``add_job``.

    :param scheduler: anything with ``add_job(func, trigger, *, args, kwargs, tags)``
    :param interval: how many units between fires (a positive number)
    :raises InvalidTrigger: non-positive interval
    """

    def __init__(self, scheduler: Any, interval: float = 1) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
            raise InvalidTrigger(f"every() needs a positive number, got {interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.unit: str | None = None
        self.start_day: str | None = None
        self.at_time: tuple[int, int, int] | None = None
        self.at_text: str | None = None
        self.at_timezone: tzinfo | None = None
        self.latest: float | None = None
        self.end: datetime | None = None
        self.tags: list[str] = []

    def __repr__(self) -> str:
        return f"<Every {self.interval} {self.start_day or self.unit} at={self.at_text!r}>"

    # -- units ------------------------------------------------------------------------------

    def _unit(self, unit: str, singular: bool) -> Every:
        if singular and self.interval != 1:
            raise InvalidTrigger(
                f"every({self.interval}).{unit[:-1]} reads wrong; use .{unit} for more than one"
            )
        self.unit = unit
        return self

    second = property(lambda self: self._unit("seconds", True), doc="Every second.")
    seconds = property(lambda self: self._unit("seconds", False), doc="Every n seconds.")
    minute = property(lambda self: self._unit("minutes", True), doc="Every minute.")
    minutes = property(lambda self: self._unit("minutes", False), doc="Every n minutes.")
    hour = property(lambda self: self._unit("hours", True), doc="Every hour.")
    hours = property(lambda self: self._unit("hours", False), doc="Every n hours.")
    day = property(lambda self: self._unit("days", True), doc="Every day.")
    days = property(lambda self: self._unit("days", False), doc="Every n days.")
    week = property(lambda self: self._unit("weeks", True), doc="Every week.")
    weeks = property(lambda self: self._unit("weeks", False), doc="Every n weeks.")

    def _weekday(self, name: str) -> Every:
        if self.interval != 1:
            raise InvalidTrigger(
                f"every({self.interval}).{name} is not supported: weekday jobs run every week "
                f"(like the schedule library); use a cron expression for other rhythms"
            )
        self.unit, self.start_day = "weeks", name
        return self

    monday = property(lambda self: self._weekday("monday"), doc="Every Monday.")
    tuesday = property(lambda self: self._weekday("tuesday"), doc="Every Tuesday.")
    wednesday = property(lambda self: self._weekday("wednesday"), doc="Every Wednesday.")
    thursday = property(lambda self: self._weekday("thursday"), doc="Every Thursday.")
    friday = property(lambda self: self._weekday("friday"), doc="Every Friday.")
    saturday = property(lambda self: self._weekday("saturday"), doc="Every Saturday.")
    sunday = property(lambda self: self._weekday("sunday"), doc="Every Sunday.")

    # -- modifiers --------------------------------------------------------------------------

    def at(self, time_str: str, tz: object = None) -> Every:
        """Fire at a time within the unit, as ``schedule`` validates it.

        - days and weekdays: ``"HH:MM"`` or ``"HH:MM:SS"``
        - hours: ``":MM"`` (minute) or ``"MM:SS"``
        - minutes: ``":SS"``

        :param tz: zone of the time (name, ZoneInfo, pytz); default: the scheduler's zone
        :raises InvalidTrigger: wrong unit or format, unknown zone
        """
        unit = "days" if self.start_day or self.unit == "weeks" else self.unit
        if unit not in _AT_FORMATS:
            raise InvalidTrigger(
                f".at() needs a unit that has a time in it: every().day.at('HH:MM'), "
                f".hour.at(':MM'), .minute.at(':SS') or a weekday; this job's unit is "
                f"{self.unit!r}"
            )
        if not isinstance(time_str, str):
            raise InvalidTrigger(f".at() takes a string, got {type(time_str).__name__}")
        pattern, shape = _AT_FORMATS[unit]
        if not pattern.match(time_str):
            raise InvalidTrigger(
                f"invalid time {time_str!r} for a job every {self.interval} {self.unit}: "
                f"expected {shape}"
            )
        parts = [int(p) if p else 0 for p in time_str.split(":")]
        if unit == "days":
            hour, minute, second = [*parts, 0][:3]
            if hour > 23:
                raise InvalidTrigger(f"invalid time {time_str!r}: hours go 00-23")
        elif unit == "hours":
            hour, minute, second = (0, parts[1], 0) if time_str.startswith(":") else (0, *parts)
        else:
            hour, minute, second = 0, 0, parts[1]
        self.at_time, self.at_text = (hour, minute, second), time_str
        if tz is not None:
            self.at_timezone = zone(tz)
        return self

    def to(self, latest: float) -> Every:
        """Fire at random gaps between ``interval`` and ``latest`` units.

        The gaps are drawn identically in every process (see :class:`RandomInterval`).
        """
        if isinstance(latest, bool) or not isinstance(latest, (int, float)):
            raise InvalidTrigger(f".to() needs a number, got {latest!r}")
        if latest < self.interval:
            raise InvalidTrigger(f".to({latest}) must be at least every({self.interval})")
        self.latest = latest
        return self

    def until(self, moment: datetime | timedelta | time | str) -> Every:
        """No fires after ``moment``: a datetime, a timedelta from now, a time today, or a
        string (``"%Y-%m-%d %H:%M:%S"``, ``"%Y-%m-%d %H:%M"``, ``"%Y-%m-%d"``, ``"%H:%M:%S"``,
        ``"%H:%M"``).

        :raises InvalidTrigger: unparsable, or already past
        """
        now = self._now()
        tz = self._local_zone()
        if isinstance(moment, datetime):
            end = moment if moment.tzinfo is not None else _localize(moment, tz)
        elif isinstance(moment, timedelta):
            end = now + moment
        elif isinstance(moment, time):
            end = _localize(datetime.combine(now.astimezone(tz).date(), moment), tz)
        elif isinstance(moment, str):
            end = self._parse_until(moment, now, tz)
        else:
            raise InvalidTrigger(f".until() takes a datetime, timedelta, time or str: {moment!r}")
        if end < now:
            raise InvalidTrigger(f"cannot schedule a job to run until {end.isoformat()}: past")
        self.end = end
        return self

    def tag(self, *tags: str) -> Every:
        """Attach tags (passed to ``add_job(tags=...)``)."""
        for tag in tags:
            if not isinstance(tag, str) or not tag:
                raise InvalidTrigger(f"tags are non-empty strings, got {tag!r}")
            if tag not in self.tags:
                self.tags.append(tag)
        return self

    # -- building ---------------------------------------------------------------------------

    def trigger(self, seed: str = "") -> Trigger:
        """The trigger this description stands for (see the module docstring's table).

        :param seed: for ``.to()`` jobs: the string that makes the random gaps reproducible
        :raises InvalidTrigger: no unit, or a combination that cannot be expressed
        """
        if self.unit is None:
            raise InvalidTrigger(
                f"every({self.interval}) needs a unit: .seconds, .minutes, .hours, .days, "
                f".weeks or a weekday"
            )
        trigger = self._base_trigger(seed)
        return trigger if self.end is None else Until(trigger, self.end)

    def _base_trigger(self, seed: str) -> Trigger:
        n, unit, tz = self.interval, self.unit, self.at_timezone
        assert unit is not None
        if self.latest is not None:
            if self.at_time is not None or self.start_day:
                raise InvalidTrigger(".to() cannot be combined with .at() or a weekday")
            low = timedelta(**{unit: n})
            return RandomInterval(low, timedelta(**{unit: self.latest}), seed=seed)
        if self.start_day:
            h, m, s = self.at_time or (0, 0, 0)
            return Cron(f"{s} {m} {h} * * {_CRON_DOW[self.start_day]}", tz)
        if self.at_time is None:
            return Interval(**{unit: float(n)})  # type: ignore[arg-type]  # unit: a length
        h, m, s = self.at_time
        if unit == "minutes":
            return Cron(f"{s} * * * * *" if n == 1 else f"{s} */{_whole(n, 60)} * * * *", tz)
        if unit == "hours":
            return Cron(f"{s} {m} * * * *" if n == 1 else f"{s} {m} */{_whole(n, 24)} * * *", tz)
        at = f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
        if unit == "days" and n == 1:
            return Daily(at, tz)
        days = _whole(n, None) * (7 if unit == "weeks" else 1)
        return CalendarInterval(days=days, at=at, timezone=tz)

    def do(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Schedule ``func(*args, **kwargs)`` with this rule; returns the scheduler's Job."""
        trigger = self.trigger(seed=_seed(func))
        return self.scheduler.add_job(
            func, trigger, args=args, kwargs=dict(kwargs), tags=tuple(self.tags)
        )

    # -- helpers ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        clock = getattr(self.scheduler, "clock", None)
        now = clock.now() if clock is not None and hasattr(clock, "now") else None
        return now if isinstance(now, datetime) else datetime.now(UTC)

    def _local_zone(self) -> tzinfo | None:
        if self.at_timezone is not None:
            return self.at_timezone
        default = getattr(self.scheduler, "timezone", None)
        return zone(default) if default is not None else None

    @staticmethod
    def _parse_until(text: str, now: datetime, tz: tzinfo | None) -> datetime:
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            try:
                return _localize(datetime.strptime(text, fmt), tz)
            except ValueError:
                pass
        for fmt in ("%H:%M:%S", "%H:%M"):
            try:
                clock = datetime.strptime(text, fmt).time()
            except ValueError:
                continue
            today: date = now.astimezone(tz).date()
            return _localize(datetime.combine(today, clock), tz)
        raise InvalidTrigger(
            f"invalid .until() string {text!r}: use '%Y-%m-%d %H:%M:%S', '%Y-%m-%d %H:%M', "
            f"'%Y-%m-%d', '%H:%M:%S' or '%H:%M'"
        )


def _localize(naive: datetime, tz: tzinfo | None) -> datetime:
    """A naive wall time in ``tz``, or in the machine's local zone when ``tz`` is None."""
    return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()


def _whole(n: float, most: int | None) -> int:
    if n != int(n) or (most is not None and n > most):
        limit = "" if most is None else f" up to {most}"
        raise InvalidTrigger(f"with .at(), the interval must be a whole number{limit}, got {n}")
    return int(n)


def _seed(func: Callable[..., Any]) -> str:
    target = func.func if isinstance(func, functools.partial) else func
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{name}"


# -- adopting schedule's jobs -------------------------------------------------------------


def adopt(scheduler: Any, source: Any) -> list[Any]:
    """Move every job of a ``schedule.Scheduler`` (or the ``schedule`` module) onto ``scheduler``.

    Each job is rebuilt through :class:`Every` from its attributes (``interval``, ``latest``,
    ``unit``, ``start_day``, ``at_time``, ``at_time_zone``, ``cancel_after``, ``tags``,
    ``job_func``), so it gets the same trigger as the fluent call would. All descriptions are
    checked before anything is added. Each job added here is then cancelled on ``source``, so
    it does not run twice; jobs that fail to translate raise before any change.

    :returns: the Jobs ``add_job`` returned, in ``source.jobs`` order
    :raises InvalidTrigger: a job that cannot be expressed (nothing is added or cancelled)
    """
    plans = []
    for job in list(source.jobs):
        plans.append((job, *_describe(scheduler, job)))
    adopted = []
    for job, builder, func, args, kwargs in plans:
        adopted.append(builder.do(func, *args, **kwargs))
        source.cancel_job(job)
    return adopted


def _describe(
    scheduler: Any, job: Any
) -> tuple[Every, Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    builder = Every(scheduler, job.interval)
    if job.start_day:
        builder = getattr(builder, job.start_day)
    elif job.unit in _UNITS:
        builder.unit = job.unit
    else:
        raise InvalidTrigger(f"cannot adopt schedule job {job!r}: unknown unit {job.unit!r}")
    at_time: time | None = job.at_time
    if at_time is not None:
        unit = "days" if job.start_day else job.unit
        if unit in ("days", "weeks"):
            text = at_time.strftime("%H:%M:%S")
        elif unit == "hours":
            text = at_time.strftime("%M:%S")
        else:
            text = at_time.strftime(":%S")
        builder.at(text, getattr(job, "at_time_zone", None))
    if job.latest is not None:
        builder.to(job.latest)
    if job.cancel_after is not None:
        builder.until(job.cancel_after)
    builder.tag(*sorted(job.tags, key=str))
    partial = job.job_func
    if isinstance(partial, functools.partial):
        return builder, partial.func, tuple(partial.args), dict(partial.keywords)
    return builder, partial, (), {}

