"""Until: stop another trigger after an instant (``every(...).until(...)``)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from . import Trigger
from .interval import _aware, _check_dt

__all__ = ["Until"]


class Until(Trigger):
    """The fires of ``trigger`` up to and including ``end``; None after it.

    :param trigger: any trigger
    :param end: aware datetime
    :raises InvalidTrigger: naive ``end``
    """

    type_name = "until"

    def __init__(self, trigger: Trigger, end: datetime) -> None:
        self.trigger = trigger
        checked = _aware(end, "end")
        assert checked is not None
        self.end = checked
        self.timezone = trigger.timezone

    def next_after(self, dt: datetime) -> datetime | None:
        if _check_dt(dt) >= self.end:
            return None
        fire = self.trigger.next_after(dt)
        return None if fire is None or fire > self.end else fire

    def with_default_timezone(self, tz: tzinfo) -> Trigger:
        inner = self.trigger.with_default_timezone(tz)
        return self if inner is self.trigger else Until(inner, self.end)

    def anchored(self, anchor: datetime) -> Trigger:
        inner = self.trigger.anchored(anchor)
        return self if inner is self.trigger else Until(inner, self.end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "trigger": self.trigger.to_dict(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Until:
        from . import from_dict

        return cls(from_dict(data["trigger"]), datetime.fromisoformat(data["end"]))

    def describe(self) -> str:
        return f"{self.trigger.describe()} until {self.end.isoformat()}"
