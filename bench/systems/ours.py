"""This project: ``Scheduler`` with its defaults (memory store, pool of 10 threads)."""

from __future__ import annotations

from datetime import datetime, timezone

from scheduler import Interval, Once, Scheduler, current_job

from .. import jobs


def _own_cancel_event():
    return current_job().cancel_event


class Adapter:
    name = "scheduler"
    cancel_is_native = True  # shutdown() sets each run's cancel_event itself

    def __init__(self) -> None:
        self._s = Scheduler(timezone="UTC", max_workers=10)
        jobs.cancel_event_getter = _own_cancel_event

    def start(self) -> None:
        self._s.start()

    def add_once(self, func, at: float, i: int, no_grace_limit: bool = False) -> None:
        self._s.add_job(
            func,
            Once(datetime.fromtimestamp(at, timezone.utc)),
            id=f"once-{i}",
            args=[i],
            **({"misfire_grace_time": None} if no_grace_limit else {}),
        )

    def add_interval(self, func, seconds: float, i: int) -> None:
        self._s.add_job(func, Interval(seconds=seconds), id=f"every-{i}")

    def shutdown(self) -> bool:
        return self._s.shutdown(wait=True)
