"""Time conversions, in one place: instants as microseconds since the Unix epoch, and the
check that a datetime is aware.

The SQLite store and the Django models keep instants as integer microseconds (they sort and
compare as numbers), the Redis scripts compute with them, and interval triggers count their
grid in them (exact: no float rounding). All of them convert here.

Threads and state: pure functions and constants.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["EPOCH", "ONE_US", "from_us", "is_aware", "naive_message", "to_us"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_US = timedelta(microseconds=1)
_US = 1_000_000


def to_us(moment: datetime) -> int:
    """An aware ``moment`` as whole microseconds since the epoch (exact, no float rounding)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def from_us(value: int | str) -> datetime:
    """Microseconds since the epoch (an int, or its decimal text) as an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=int(value))


def is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def naive_message(what: str, moment: datetime) -> str:
    """What to say about a naive datetime (every trigger says it the same way)."""
    return (
        f"{what} {moment.isoformat()} is naive; pass an aware datetime "
        f"(e.g. datetime(..., tzinfo=ZoneInfo('Europe/Bratislava')))"
    )
