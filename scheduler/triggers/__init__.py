"""Triggers turn a rule into instants.

A trigger is immutable and pure: :meth:`Trigger.next_after` depends only on its definition and
the instant it is given, never on which process calls it or on earlier calls. That is what lets
every instance of an app agree on the fire times, and so claim ``(job id, fire time)`` in a
shared store.

Kinds: :class:`~scheduler.triggers.cron.Cron`, :class:`~scheduler.triggers.interval.Interval`,
:class:`~scheduler.triggers.daily.Daily`, :class:`~scheduler.triggers.once.Once`, and for the
``every()`` vocabulary :class:`~scheduler.triggers.calendar.CalendarInterval`,
:class:`~scheduler.triggers.interval.RandomInterval` and the
:class:`~scheduler.triggers.bounded.Until` wrapper.
:func:`coerce` accepts the shortcuts ``add_job`` takes: a cron string or a ``timedelta``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ..exceptions import InvalidTrigger

__all__ = ["Trigger", "coerce", "from_dict"]


class Trigger(ABC):
    """The interface every trigger implements.

    Subclasses are immutable; ``__eq__``/``__hash__`` follow :meth:`to_dict`.
    """

    __slots__ = ()  # subclasses may use __slots__ (one trigger per job adds up)

    #: the zone the rule is read in; None means "the scheduler's default zone"
    timezone: tzinfo | None = None

    @abstractmethod
    def next_after(self, dt: datetime) -> datetime | None:
        """The first fire time strictly after ``dt``, or None when it will not fire again.

        :param dt: an aware datetime (any zone)
        :returns: an aware datetime in the trigger's zone (UTC for zone-less triggers)
        :raises InvalidTrigger: ``dt`` is naive
        """

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable definition: ``{"type": "cron", ...}``.

        :func:`from_dict` inverts it.
        """

    @abstractmethod
    def describe(self) -> str:
        """The rule in words, for ``scheduler list`` (``'cron 0 3 * * * (Europe/Bratislava)'``)."""

    def with_default_timezone(self, tz: tzinfo) -> Trigger:
        """This trigger with ``tz`` as its zone if it has none; else itself."""
        return self

    def shared(self) -> Trigger:
        """An equal trigger that jobs with the same definition can share (triggers are
        immutable): 100,000 jobs on ``Interval(minutes=5)`` keep one. Itself by default."""
        return self

    def anchored(self, anchor: datetime) -> Trigger:
        """This trigger with ``anchor`` as its start if it needs one and has none; else itself.

        Interval triggers without an explicit ``start`` count from an anchor that the store
        keeps (the job's first registration), so instances started apart agree.
        """
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trigger):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def coerce(value: object) -> Trigger:
    """Accept a Trigger, a cron string or a positive ``timedelta``.

    :raises InvalidTrigger: anything else
    """
    if isinstance(value, Trigger):
        return value
    if isinstance(value, str):
        from .cron import Cron

        return Cron(value)
    if isinstance(value, timedelta):
        from .interval import Interval

        return Interval(seconds=value.total_seconds())
    raise InvalidTrigger(
        f"cannot use {value!r} as a trigger; pass a cron string ('*/5 * * * *'), a "
        f"datetime.timedelta, or Cron/Interval/Daily/Once"
    )


def from_dict(data: dict[str, Any]) -> Trigger:
    """Rebuild a trigger from :meth:`Trigger.to_dict` output (stored job definitions)."""
    from .bounded import Until
    from .calendar import CalendarInterval
    from .cron import Cron
    from .daily import Daily
    from .interval import Interval, RandomInterval
    from .once import Once

    kinds: dict[str, Any] = {
        "cron": Cron,
        "interval": Interval,
        "daily": Daily,
        "once": Once,
        "calendar_interval": CalendarInterval,
        "random_interval": RandomInterval,
        "until": Until,
    }
    kind = data.get("type")
    if kind not in kinds:
        raise InvalidTrigger(f"unknown trigger type {kind!r} in stored definition {data!r}")
    trigger: Trigger = kinds[kind].from_dict(data)
    return trigger
