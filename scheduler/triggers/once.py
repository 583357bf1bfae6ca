"""A trigger that fires once, at a given instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .._tz import UTC
from ..exceptions import InvalidTrigger
from . import Trigger
from .interval import _aware, _check_dt

__all__ = ["Once"]


class Once(Trigger):
    """Fire once at ``when``.

    A ``when`` in the past is valid here, because stored jobs are rebuilt from their
    definitions long after they were added; the scheduler's ``add_job`` is what refuses a new
    one-off job in the past.

    :param when: an aware datetime (any zone)
    :raises InvalidTrigger: ``when`` is naive or not a datetime
    """

    type_name = "once"

    def __init__(self, when: datetime) -> None:
        checked = _aware(when, "when")
        if checked is None:
            raise InvalidTrigger("Once needs an aware datetime 'when', got None")
        #: the instant, in the zone it was given in
        self.when: datetime = when
        self._utc = checked

    def next_after(self, dt: datetime) -> datetime | None:
        return self.when if self._utc > _check_dt(dt) else None

    def is_past(self, now: datetime) -> bool:
        """Whether the single fire is at or before ``now`` (used by ``add_job``)."""
        return self._utc <= _check_dt(now)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name, "when": self.when.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Once:
        return cls(datetime.fromisoformat(data["when"]))

    def describe(self) -> str:
        return f"once at {self.when.isoformat()}"

    @property
    def when_utc(self) -> datetime:
        """``when`` as an aware UTC datetime."""
        return self._utc.astimezone(UTC)
