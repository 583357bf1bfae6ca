"""CalendarInterval: every N local calendar days at a wall time (``every(3).days.at(...)``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from .._tz import UTC, tz_name, zone
from ..exceptions import InvalidTrigger
from . import Trigger
from .cron import resolve_fixed
from .daily import parse_at
from .interval import _aware, _check_dt

__all__ = ["CalendarInterval"]

_UNANCHORED = date(1970, 1, 1)


class CalendarInterval(Trigger):
    """Fire at local wall time ``at`` on every N-th local calendar day.

    Days are counted in the trigger's zone from the local date of ``start`` (the scheduler
    anchors it at the job's first registration), so day 0 is the registration day itself: a
    job registered at 09:00 with ``at="10:30"`` first fires the same day at 10:30. Without an
    anchor, days count from 1970-01-01. Fixed-time DST rules, as :class:`Daily`. "Every N
    weeks" is ``days=7*N`` (the weekday is the anchor's).

    :param days: calendar days between fires (positive integer)
    :param weeks: added as 7 days each
    :param at: ``"HH:MM"`` or ``"HH:MM:SS"``
    :param timezone: zone; None means the scheduler's default zone
    :param start: aware anchor
    :raises InvalidTrigger: non-positive or fractional count, malformed ``at``, naive start
    """

    type_name = "calendar_interval"

    def __init__(
        self,
        days: int = 0,
        weeks: int = 0,
        at: str = "00:00",
        timezone: object = None,
        start: datetime | None = None,
    ) -> None:
        for name, value in (("days", days), ("weeks", weeks)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidTrigger(f"{name} must be a whole number, got {value!r}")
        self.days = days + 7 * weeks
        if self.days <= 0:
            raise InvalidTrigger(f"the day count must be positive, got {self.days}")
        self._time = time(*parse_at(at))
        self.at = at
        self.timezone: tzinfo | None = None if timezone is None else zone(timezone)
        self.start = _aware(start, "start")

    def _copy(self, **changes: Any) -> CalendarInterval:
        clone = object.__new__(CalendarInterval)
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        return clone

    def with_default_timezone(self, tz: tzinfo) -> CalendarInterval:
        return self if self.timezone is not None else self._copy(timezone=zone(tz))

    def anchored(self, anchor: datetime) -> CalendarInterval:
        return self if self.start is not None else self._copy(start=_aware(anchor, "anchor"))

    def next_after(self, dt: datetime) -> datetime | None:
        now = _check_dt(dt).replace(tzinfo=None)
        tz = self.timezone or UTC
        origin = _UNANCHORED if self.start is None else self.start.astimezone(tz).date()
        day = dt.astimezone(tz).date() - timedelta(days=1)
        behind = (day - origin).days % self.days
        if behind:
            day += timedelta(days=self.days - behind)
        while True:
            instant, local = resolve_fixed(datetime.combine(day, self._time), tz)
            if instant > now:
                return local
            day += timedelta(days=self.days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "days": self.days,
            "at": self.at,
            "timezone": None if self.timezone is None else tz_name(self.timezone),
            "start": None if self.start is None else self.start.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalendarInterval:
        start = data.get("start")
        return cls(
            days=data["days"],
            at=data.get("at", "00:00"),
            timezone=data.get("timezone"),
            start=None if start is None else datetime.fromisoformat(start),
        )

    def describe(self) -> str:
        where = "default zone" if self.timezone is None else tz_name(self.timezone)
        return f"every {self.days} days at {self.at} ({where})"
