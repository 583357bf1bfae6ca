"""Helpers shared by the core scheduler tests (test_scheduler, test_runner, test_lifecycle,
test_events, test_testing, test_job_options).

Time is virtual (:class:`scheduler.testing.VirtualClock`); background threads are awaited on
events whose timeout is only a hang guard, never an assertion about speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from scheduler.events import Event

#: hang guard for waits on background threads (real seconds); never reached when all is well
HANG = 5.0
#: a Monday, so that cron and daily expectations are easy to read
START = "2026-03-02T12:00:00+00:00"


def wait(event: threading.Event, what: str = "the background thread") -> None:
    assert event.wait(HANG), f"timed out waiting for {what}"


class Recorder:
    """A listener that keeps every event and lets a test wait for one kind."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, kind: type[Event]) -> list[Any]:
        with self._cond:
            return [e for e in self.events if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        with self._cond:
            return [type(e).__name__ for e in self.events]

    def wait_for(self, kind: type[Event], count: int = 1) -> list[Any]:
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(isinstance(e, kind) for e in self.events) >= count, HANG
            )
        assert ok, f"timed out waiting for {count} {kind.__name__} (got {self.kinds()})"
        return self.of(kind)


class Calls:
    """A job function that records each call's value and signals it."""

    def __init__(self, make: Callable[[], Any] | None = None) -> None:
        self.values: list[Any] = []
        self.called = threading.Event()
        self._make = make
        self.__name__ = "calls"
        self.__qualname__ = "Calls"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value = self._make() if self._make is not None else (args, kwargs)
        self.values.append(value)
        self.called.set()
        return value

    @property
    def count(self) -> int:
        return len(self.values)
