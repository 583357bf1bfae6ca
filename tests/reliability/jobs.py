"""Job functions for the reliability suite, importable by path from worker processes.

Each records its side effect as one line ``job_id fire pid attempt`` appended to a file
(``O_APPEND`` writes of one line are atomic), so the parent can compare side effects with
the store's run history.
"""

from __future__ import annotations

import os
import time
from datetime import timezone

from scheduler import current_job


def _line() -> str:
    ctx = current_job()
    assert ctx is not None
    fire = ctx.scheduled_time.astimezone(timezone.utc).isoformat()
    return f"{ctx.job_id} {fire} {os.getpid()} {ctx.attempt}\n"


def _append(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _first(marker: str) -> bool:
    """True for exactly one caller across every process: the one that creates ``marker``."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    return True


def record(path: str) -> str:
    """The plain side effect."""
    _append(path, _line())
    return "ok"


def hang_first(path: str, marker: str) -> str:
    """The first attempt of the first fire (in any process) writes ``marker`` with its pid
    and hangs forever, ignoring cancellation; every other run records and returns."""
    ctx = current_job()
    assert ctx is not None
    if ctx.attempt == 1 and _first(marker):
        while True:
            time.sleep(3600)
    return record(path)


def slow(path: str, seconds: float, marker: str = "") -> str:
    """Announce the start (``marker``), run ``seconds`` (cooperatively: no early exit, but
    a shutdown waits for it), then record."""
    if marker:
        _first(marker)
    time.sleep(seconds)
    return record(path)


def ignore_cancel(marker: str) -> None:
    """Never returns, whatever cancel_event says."""
    _first(marker)
    while True:
        time.sleep(3600)
