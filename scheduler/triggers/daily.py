"""Daily: once a day at a local wall time, with the fixed-time DST rules of cron."""

from __future__ import annotations

import re
from typing import Any

from .._tz import tz_name
from ..exceptions import InvalidTrigger
from .cron import Cron

__all__ = ["Daily", "parse_at"]

_AT = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_at(at: str) -> tuple[int, int, int]:
    """``"HH:MM"`` or ``"HH:MM:SS"`` to ``(hour, minute, second)``.

    :raises InvalidTrigger: malformed, or out of range (``24:00``, ``12:60``)
    """
    match = _AT.match(at) if isinstance(at, str) else None
    if match is None:
        raise InvalidTrigger(f"invalid time of day {at!r}: expected 'HH:MM' or 'HH:MM:SS'")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidTrigger(
            f"invalid time of day {at!r}: hours go 00-23, minutes and seconds 00-59"
        )
    return hour, minute, second


class Daily(Cron):
    """Fire every day at ``at`` local time: exactly ``cron 'S M H * * *'``.

    Fixed-time DST rules: on the spring-forward day a time inside the skipped hour fires at the
    instant of the jump (``02:30`` in Europe/Bratislava fires at 03:00+02:00); on the
    fall-back day a repeated time fires once, in the first pass.

    :param at: ``"HH:MM"`` or ``"HH:MM:SS"``
    :param timezone: zone name or tzinfo; None means the scheduler's default zone
    :raises InvalidTrigger: malformed ``at``
    """

    type_name = "daily"

    def __init__(self, at: str = "00:00", timezone: object = None) -> None:
        hour, minute, second = parse_at(at)
        super().__init__(f"{second} {minute} {hour} * * *", timezone)
        self.at = at

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "at": self.at,
            "timezone": None if self.timezone is None else tz_name(self.timezone),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Daily:
        return cls(data["at"], timezone=data.get("timezone"))

    def describe(self) -> str:
        where = "default zone" if self.timezone is None else tz_name(self.timezone)
        return f"daily at {self.at} ({where})"
