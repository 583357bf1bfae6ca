"""Logging that cannot take the scheduler down.

Every message goes to the ``scheduler`` logger (or a child) as a human sentence with %-style
arguments, and the same facts as ``extra`` fields for structured handlers. A handler that
raises (``logging`` only guards ``Handler.emit``; a custom ``handle`` can still raise) is
reported once on stderr and otherwise ignored.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["format_duration", "safe_log"]

_reported = False


def safe_log(
    logger: logging.Logger,
    level: int,
    msg: str,
    *args: Any,
    extra: dict[str, Any] | None = None,
    exc_info: Any = None,
) -> None:
    global _reported
    try:
        if logger.isEnabledFor(level):
            logger.log(level, msg, *args, extra=extra, exc_info=exc_info)
    except Exception as exc:  # a broken handler or formatter
        if not _reported:
            _reported = True
            try:
                sys.stderr.write(
                    f"scheduler: a logging handler raised {type(exc).__name__}: {exc}; "
                    f"further logging errors are not reported\n"
                )
            except Exception:
                pass


def format_duration(seconds: float) -> str:
    """A duration for a person reading a log line: ``19 µs``, ``12.3 ms``, ``4.1 s``,
    ``2 min 5 s``, ``3 h 20 min``. Log records keep the float seconds in ``extra``."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return f"{seconds} s"  # never raise inside a log call
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    if seconds < 0.001:
        return f"{sign}{seconds * 1_000_000:.0f} µs"
    if round(seconds * 1000, 1) < 1000:
        return f"{sign}{seconds * 1000:.1f} ms"
    if round(seconds, 1) < 60:
        return f"{sign}{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        rest = f" {whole % 60} s" if whole % 60 else ""
        return f"{sign}{whole // 60} min{rest}"
    rest = f" {whole % 3600 // 60} min" if whole % 3600 // 60 else ""
    return f"{sign}{whole // 3600} h{rest}"
