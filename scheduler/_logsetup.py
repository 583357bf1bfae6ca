"""Logging for a process that runs the scheduler: what ``scheduler run``, ``runscheduler``,
the Flask command and ``Scheduler.run_forever`` set up when nothing else handles the records.

The library itself adds no handler. These helpers add one only when no handler would receive
the ``scheduler`` logger's records (the user's own configuration wins), in text or as one
JSON object per line with every ``extra`` field.

Threads and state: none of its own (the handler goes on the root logger).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

__all__ = ["JSONFormatter", "has_level_handler", "setup_logging"]

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__
) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def has_level_handler(log: logging.Logger) -> bool:
    """Whether a record at ``log``'s effective level would reach some handler.

    Walks up the hierarchy as :meth:`logging.Logger.callHandlers` does (Flask does the same).
    """
    level = log.getEffectiveLevel()
    current: logging.Logger | None = log
    while current:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False


def setup_logging(level: str, fmt: str, stream: TextIO | None = None) -> logging.Handler | None:
    """Set the ``scheduler`` logger's level; add a handler on the root logger only if no handler
    would receive the ``scheduler`` logger's records (the user's own configuration wins).

    :returns: the handler added, or None
    """
    lib = logging.getLogger("scheduler")
    lib.setLevel(level)
    if has_level_handler(lib):
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.addHandler(handler)
    # The jobs' own INFO logs are what people want to see in a dedicated process.
    if root.level > logging.getLevelName(level):
        root.setLevel(level)
    return handler
