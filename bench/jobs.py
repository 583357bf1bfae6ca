"""The job bodies every system runs, at module level so every system can import them.

They only touch module-level state that the worker reads: a list of start times (``append``
is atomic under the GIL) and two counters for the shutdown scenario.
"""

from __future__ import annotations

import threading
import time

#: (index, time.time() at start) for lateness; time.time() at start for burst
STARTS: list = []

#: the shutdown scenario's jobs say they are running, and when they have ended
RUNNING = threading.Semaphore(0)
ENDED = threading.Semaphore(0)

#: for systems without a per-run cancel event: the flag the harness sets before shutdown
SHARED_CANCEL = threading.Event()

#: how a long job finds its cancel event; the ``scheduler`` adapter replaces it
cancel_event_getter = lambda: SHARED_CANCEL  # noqa: E731


def record(i: int) -> None:
    """Lateness: note when job ``i`` started."""
    STARTS.append((i, time.time()))


def tick(i: int = 0) -> None:
    """Burst: the least work a job can do that still proves it ran."""
    STARTS.append(time.time())


def noop() -> None:
    """Idle scale: never due during the run."""


def long_job(i: int = 0) -> None:
    """Shutdown: run until cancelled, looking at the cancel event every 50 ms."""
    event = cancel_event_getter()
    RUNNING.release()
    while not event.is_set():
        time.sleep(0.05)
    ENDED.release()


def burn(n: int) -> int:
    """CPU-bound work: a fixed number of loop steps (the executors bench calibrates ``n`` to
    about one second of one core; a fixed count, not a time, so threads that share the GIL
    do the same work as processes)."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
