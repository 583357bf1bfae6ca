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

__all__ = ["safe_log"]

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
