"""Triggers that count elapsed time: :class:`Interval` and :class:`RandomInterval`.

Daylight saving does not affect them: "every 2 hours" is 7,200 real seconds, whatever the
wall clock does. All arithmetic is in whole microseconds since the Unix epoch, so every
process computes the same instants.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from .._time import ONE_US as _ONE_US
from .._time import from_us, is_aware, naive_message, to_us
from .._tz import UTC
from ..exceptions import InvalidTrigger
from . import Trigger

__all__ = ["Interval", "RandomInterval"]

_US = 1_000_000
_LAST_US = ((datetime.max - datetime(1970, 1, 1)) // _ONE_US)
#: the shortest interval: finer ones would keep a core busy folding fires that never run
MIN_INTERVAL = timedelta(milliseconds=1)

#: most entries kept by each of the caches below (then they start over)
_CACHE_SIZE = 1024
#: checked lengths (µs) by ``(seconds, minutes, hours, days, weeks)`` of plain ints and
#: floats: 100,000 jobs on ``Interval(minutes=5)`` check it once
_LENGTHS: dict[tuple[float, ...], int] = {}
_PLAIN = frozenset((int, float))
#: one Interval per definition, shared by the jobs that use it (:meth:`Interval.shared`)
_SHARED: dict[tuple[Any, ...], Interval] = {}


def _aware(dt: datetime | None, what: str) -> datetime | None:
    if dt is None:
        return None
    if dt.__class__ is datetime and dt.tzinfo is UTC:
        return dt  # the usual instant (the clock's, a fire's): aware and in UTC already
    if not isinstance(dt, datetime):
        raise InvalidTrigger(f"{what} must be a datetime, got {type(dt).__name__}")
    if not is_aware(dt):
        raise InvalidTrigger(naive_message(what, dt))
    return dt.astimezone(UTC)


def _check_dt(dt: datetime) -> datetime:
    checked = _aware(dt, "datetime")
    assert checked is not None
    return checked


def _length_us(seconds: float, minutes: float, hours: float, days: float, weeks: float) -> int:
    for name, value in (
        ("seconds", seconds),
        ("minutes", minutes),
        ("hours", hours),
        ("days", days),
        ("weeks", weeks),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidTrigger(f"interval {name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidTrigger(f"interval {name} must be a finite number, got {value!r}")
    try:
        total = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days, weeks=weeks)
    except OverflowError:
        raise InvalidTrigger(
            f"the interval is too long (seconds={seconds}, minutes={minutes}, hours={hours}, "
            f"days={days}, weeks={weeks}); the longest is {timedelta.max.days} days"
        ) from None
    return total // _ONE_US


def _check_length(length: int, what: str) -> None:
    if length < MIN_INTERVAL // _ONE_US:
        raise InvalidTrigger(
            f"{what} must be at least {MIN_INTERVAL.total_seconds() * 1000:g} ms, got "
            f"{timedelta(microseconds=length)}"
        )


class Interval(Trigger):
    """Fire every fixed length of real time: ``start``, ``start + interval``, ...

    - With ``start`` in the future, the first fire is ``start`` itself.
    - Without ``start``, the scheduler anchors the trigger at the job's first registration
      (kept in the store, so every process counts from the same instant); see
      :meth:`anchored`. An unanchored trigger used on its own fires ``interval`` after the
      ``dt`` it is given.
    - No fire after ``end`` (inclusive bound: a fire exactly at ``end`` happens).

    :param seconds, minutes, hours, days, weeks: added up; finite floats allowed; the total
        must be at least 1 ms (:data:`MIN_INTERVAL`) and at most ``timedelta.max``
    :param start: aware datetime of the first fire
    :param end: aware datetime after which it stops
    :raises InvalidTrigger: non-positive, shorter than 1 ms, infinite, NaN or too long a
        total, naive ``start``/``end``, ``end`` before ``start``
    """

    type_name = "interval"
    __slots__ = ("_us", "end", "start")

    def __init__(
        self,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        weeks: float = 0,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        key = (seconds, minutes, hours, days, weeks)
        length = _LENGTHS.get(key)
        plain = set(map(type, key)) <= _PLAIN  # True == 1: a bool must not hit the cache
        if length is None or not plain:
            length = _length_us(seconds, minutes, hours, days, weeks)
            raw = seconds + 60 * minutes + 3600 * hours + 86_400 * days + 604_800 * weeks
            if length <= 0 and raw <= 0:  # (a positive total below 1 µs is 'too short' below)
                raise InvalidTrigger(
                    f"the interval must be positive, got {timedelta(microseconds=length)} "
                    f"(seconds={seconds}, minutes={minutes}, hours={hours}, days={days}, "
                    f"weeks={weeks})"
                )
            _check_length(length, "the interval")
            if plain:
                if len(_LENGTHS) >= _CACHE_SIZE:
                    _LENGTHS.clear()
                _LENGTHS[key] = length
        self._us = length
        self.start = None if start is None else _aware(start, "start")
        self.end = None if end is None else _aware(end, "end")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise InvalidTrigger(f"end {self.end.isoformat()} is before start")

    def shared(self) -> Interval:
        key = (type(self), self._us, self.start, self.end)
        same = _SHARED.get(key)
        if same is None:
            if len(_SHARED) >= _CACHE_SIZE:
                _SHARED.clear()
            same = _SHARED[key] = self
        return same

    @property
    def interval(self) -> timedelta:
        """The length between fires."""
        return timedelta(microseconds=self._us)

    def anchored(self, anchor: datetime) -> Interval:
        if self.start is not None:
            return self
        clone = object.__new__(type(self))
        clone._us = self._us
        clone.end = self.end
        clone.start = _aware(anchor, "anchor")
        return clone

    def next_after(self, dt: datetime) -> datetime | None:
        now = to_us(_check_dt(dt))
        if self.start is None:
            fire = now + self._us
        else:
            start = to_us(self.start)
            if now < start:
                fire = start
            else:
                fire = start + ((now - start) // self._us + 1) * self._us
        if self.end is not None and fire > to_us(self.end):
            return None
        if fire > _LAST_US:  # past year 9999: it will not fire again
            return None
        return from_us(fire)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "seconds": self._us / _US,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interval:
        trigger = cls(
            seconds=data["seconds"],
            start=_parse(data.get("start")),
            end=_parse(data.get("end")),
        )
        return trigger

    def describe(self) -> str:
        text = f"every {_human(self.interval)}"
        if self.start is not None:
            text += f" from {self.start.isoformat()}"
        if self.end is not None:
            text += f" until {self.end.isoformat()}"
        return text


class RandomInterval(Trigger):
    """Fire at random gaps between ``low`` and ``high``, identically in every process.

    This is ``schedule``'s ``every(a).to(b)``. Instead of drawing a random number after each
    run (which two processes would draw differently), fire ``k`` happens at
    ``start + k * mid + u(k)``, where ``mid = (low + high) / 2`` and ``u(k)`` is a number in
    ``[0, (high - low) / 2]`` derived from SHA-256 of ``(seed, k)``. Consecutive gaps
    therefore always lie in ``[low, high]`` (their distribution is triangular, not uniform),
    and ``next_after`` is O(1).

    :param low: shortest gap
    :param high: longest gap, at least ``low``
    :param seed: any string; the fluent builder uses the job function's import path
    :param start: anchor; the scheduler supplies the job's first registration time
    :raises InvalidTrigger: non-positive ``low`` or ``high < low``
    """

    type_name = "random_interval"

    def __init__(
        self,
        low: timedelta,
        high: timedelta,
        seed: str = "",
        start: datetime | None = None,
    ) -> None:
        if not isinstance(low, timedelta) or not isinstance(high, timedelta):
            raise InvalidTrigger("RandomInterval needs timedelta bounds")
        self._low = low // _ONE_US
        self._high = high // _ONE_US
        if self._low <= 0:
            raise InvalidTrigger(f"the shortest interval must be positive, got {low}")
        _check_length(self._low, "the shortest interval")
        if self._high < self._low:
            raise InvalidTrigger(f"the longest interval {high} is shorter than {low}")
        self.seed = str(seed)
        self.start = _aware(start, "start")

    @property
    def low(self) -> timedelta:
        return timedelta(microseconds=self._low)

    @property
    def high(self) -> timedelta:
        return timedelta(microseconds=self._high)

    def anchored(self, anchor: datetime) -> RandomInterval:
        if self.start is not None:
            return self
        return RandomInterval(self.low, self.high, self.seed, anchor)

    def _fire(self, start: int, k: int) -> int:
        mid2 = self._low + self._high  # twice the mean gap, to stay in integers
        spread = (self._high - self._low) // 2
        import hashlib  # only random intervals need it: `import scheduler` stays light

        digest = hashlib.sha256(f"{self.seed}:{k}".encode()).digest()
        offset = int.from_bytes(digest[:8], "big") % (spread + 1)
        return start + (k * mid2) // 2 + offset

    def next_after(self, dt: datetime) -> datetime | None:
        now = to_us(_check_dt(dt))
        if self.start is None:  # unanchored: count from dt itself, first gap in [low, high]
            return from_us(self._fire(now, 1))
        start = to_us(self.start)
        if now < start:
            return from_us(self._fire(start, 0))
        # fire(k) lies in [start + k*mid, start + k*mid + spread]: start a little below.
        k = max(0, (now - start) * 2 // (self._low + self._high) - 1)
        while self._fire(start, k) <= now:
            k += 1
        return from_us(self._fire(start, k))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "low": self._low / _US,
            "high": self._high / _US,
            "seed": self.seed,
            "start": None if self.start is None else self.start.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RandomInterval:
        return cls(
            timedelta(seconds=data["low"]),
            timedelta(seconds=data["high"]),
            data.get("seed", ""),
            _parse(data.get("start")),
        )

    def describe(self) -> str:
        return f"every {_human(self.low)} to {_human(self.high)}"


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"
