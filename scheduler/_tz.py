"""Turn whatever a user calls a time zone into a :class:`zoneinfo.ZoneInfo` (or UTC).

Accepted: an IANA name, a ``ZoneInfo``, a pytz zone (by its ``zone`` name), ``datetime.timezone``
(fixed offsets are kept as they are), and any other ``tzinfo`` that names an IANA zone through
``key`` or ``zone``. Everything else raises :class:`~scheduler.exceptions.InvalidTimezone` at once.
"""

from __future__ import annotations

import functools
import sys
from datetime import timedelta, timezone, tzinfo

from .exceptions import InvalidTimezone

__all__ = ["UTC", "tz_name", "zone"]

UTC = timezone.utc


@functools.lru_cache(maxsize=256)
def _by_name(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # here: UTC needs none of it

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidTimezone(name) from exc


def zone(value: object) -> tzinfo:
    """Return the zone ``value`` names, as a ``ZoneInfo`` or a fixed-offset ``timezone``.

    :raises InvalidTimezone: unknown name, or an object that is not a time zone
    """
    if isinstance(value, str):
        if not value.strip():
            raise InvalidTimezone(value, "empty time zone name")
        return _by_name(value.strip())
    zoneinfo = sys.modules.get("zoneinfo")  # a ZoneInfo exists only once it was imported
    if zoneinfo is not None and isinstance(value, zoneinfo.ZoneInfo):
        return value  # type: ignore[no-any-return]
    if isinstance(value, timezone):
        return UTC if value.utcoffset(None) == timedelta(0) else value
    if isinstance(value, tzinfo):
        # pytz zones carry .zone, dateutil/zoneinfo-like ones .key: trade them for zoneinfo so
        # that arithmetic is right (pytz's own needs localize/normalize, which we never call).
        name = getattr(value, "zone", None) or getattr(value, "key", None)
        if isinstance(name, str):
            return _by_name(name)
        offset = value.utcoffset(None)
        if offset is not None and value.dst(None) in (None, timedelta(0)):
            return timezone(offset)
        raise InvalidTimezone(value, "a tzinfo without an IANA name; pass a zone name instead")
    raise InvalidTimezone(value, f"expected a zone name or tzinfo, got {type(value).__name__}")


def tz_name(tz: tzinfo) -> str:
    """A stable, JSON-friendly name for a zone: ``'UTC'``, ``'Europe/Bratislava'``, ``'+05:30'``."""
    if tz is UTC:
        return "UTC"
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    offset = tz.utcoffset(None) or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"

