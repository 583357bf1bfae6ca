"""The ``schedule`` library the way its documentation runs it in the background: a thread
calling ``run_pending()`` then ``time.sleep(1)`` until a stop flag is set, each job handing
its function to a ``ThreadPoolExecutor`` (the "run in parallel" recipe).

It has no run-at-an-instant API: a one-off job is ``every(delay).seconds`` whose body returns
``schedule.CancelJob`` (the documented "run a job once" recipe). Shutdown is what a user of
the recipe does: set the stop flag, join the loop thread (which may be in its 1 s sleep), then
``pool.shutdown(wait=True)``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import schedule


class Adapter:
    name = "schedule"
    cancel_is_native = False

    def __init__(self) -> None:
        self._s = schedule.Scheduler()
        self._pool = ThreadPoolExecutor(10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._s.run_pending()
            time.sleep(1)

    def _once(self, func, i: int):
        self._pool.submit(func, i)
        return schedule.CancelJob

    def start(self) -> None:
        self._thread.start()

    def add_once(self, func, at: float, i: int, no_grace_limit: bool = False) -> None:
        self._s.every(max(at - time.time(), 0.0)).seconds.do(self._once, func, i)

    def add_interval(self, func, seconds: float, i: int) -> None:
        self._s.every(seconds).seconds.do(self._pool.submit, func)

    def shutdown(self) -> bool:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        return True
