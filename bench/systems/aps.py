"""APScheduler 3.11 as its users run it: ``BackgroundScheduler`` with its default executor
(a ``ThreadPoolExecutor`` of 10 threads) and memory job store, triggers named by string."""

from __future__ import annotations

from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler


class Adapter:
    name = "apscheduler"
    cancel_is_native = False  # no cancel event: jobs poll a flag the harness sets

    def __init__(self) -> None:
        self._s = BackgroundScheduler(timezone=timezone.utc)

    def start(self) -> None:
        self._s.start()

    def add_once(self, func, at: float, i: int, no_grace_limit: bool = False) -> None:
        self._s.add_job(
            func,
            "date",
            run_date=datetime.fromtimestamp(at, timezone.utc),
            args=[i],
            **({"misfire_grace_time": None} if no_grace_limit else {}),
        )

    def add_interval(self, func, seconds: float, i: int) -> None:
        self._s.add_job(func, "interval", seconds=seconds)

    def shutdown(self) -> bool:
        self._s.shutdown(wait=True)
        return True
