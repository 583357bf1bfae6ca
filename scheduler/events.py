"""Events the scheduler emits, and their dispatch to listeners.

Events are frozen dataclasses grouped by origin: :class:`SchedulerEvent` (the scheduler
itself), :class:`JobEvent` (a job was added or removed) and :class:`RunEvent` (one fire of a
job, identified by ``job_id`` and ``scheduled_time``).

Listeners run on the thread that emitted the event (the ticker, a pool thread or the caller
of ``add_job``), so they should be quick. A listener that raises is logged once and then
ignored; it never breaks the scheduler::

    def on_failure(event: JobFailed) -> None:
        alert(f"{event.job_id} failed: {event.error}")

    sched.add_listener(on_failure, events=[JobFailed])
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "Event",
    "JobAdded",
    "JobEvent",
    "JobFailed",
    "JobLost",
    "JobMissed",
    "JobRemoved",
    "JobRetried",
    "JobSkipped",
    "JobStarted",
    "JobSubmitted",
    "JobSucceeded",
    "JobTimedOut",
    "RunEvent",
    "SchedulerEvent",
    "SchedulerShutdown",
    "SchedulerStarted",
]

log = logging.getLogger("scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event. ``timestamp`` is when it happened (aware UTC)."""

    timestamp: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerEvent(Event):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerStarted(SchedulerEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerShutdown(SchedulerEvent):
    #: every running job finished within the timeout
    clean: bool = True
    #: ids of the jobs still running when shutdown returned
    still_running: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent(Event):
    job_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobAdded(JobEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRemoved(JobEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent(JobEvent):
    scheduled_time: datetime
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSubmitted(RunEvent):
    """A due fire was handed to the pool (it is claimed when it starts)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStarted(RunEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSucceeded(RunEvent):
    duration: float
    result: str | None = None  #: a short repr of the return value


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailed(RunEvent):
    duration: float
    error: str  #: ``TypeName: message``
    traceback: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRetried(RunEvent):
    """Attempt ``attempt`` failed; the next one starts after ``delay`` seconds."""

    delay: float
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTimedOut(RunEvent):
    timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSkipped(RunEvent):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobMissed(RunEvent):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobLost(RunEvent):
    """The run's owner stopped renewing its lease (killed, frozen or cut off)."""

    owner: str
    reason: str


Listener = Callable[[Event], Any]


class Dispatcher:
    """Holds listeners and calls them; survives listeners that raise."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[tuple[Listener, tuple[type[Event], ...]], ...] = ()
        self._reported: set[int] = set()

    def add(self, callback: Listener, events: Iterable[type[Event]] | None = None) -> None:
        if not callable(callback):
            from .exceptions import ConfigurationError

            raise ConfigurationError(f"listener {callback!r} is not callable")
        kinds = tuple(events) if events is not None else (Event,)
        for kind in kinds:
            if not (isinstance(kind, type) and issubclass(kind, Event)):
                from .exceptions import ConfigurationError

                raise ConfigurationError(
                    f"events= takes event classes from scheduler.events (e.g. JobFailed), "
                    f"got {kind!r}"
                )
        with self._lock:
            self._listeners = (*self._listeners, (callback, kinds))

    def remove(self, callback: Listener) -> None:
        with self._lock:
            self._listeners = tuple(pair for pair in self._listeners if pair[0] != callback)

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, event: Event) -> None:
        for callback, kinds in self._listeners:  # a tuple: safe to read without the lock
            if not isinstance(event, kinds):
                continue
            try:
                callback(event)
            except BaseException as exc:
                # Listeners run on the ticker and pool threads too: whatever they raise
                # (SystemExit included, as for jobs) must not abort a dispatch or leave a
                # claimed run unrecorded. Only Ctrl-C on the main thread goes through.
                if isinstance(exc, KeyboardInterrupt) and (
                    threading.current_thread() is threading.main_thread()
                ):
                    raise
                key = id(callback)
                if key not in self._reported:
                    self._reported.add(key)
                    log.exception(
                        "listener %r raised on %s; it stays registered, and further errors "
                        "from it are not logged",
                        callback,
                        type(event).__name__,
                        extra={"listener": repr(callback), "event": type(event).__name__},
                    )
