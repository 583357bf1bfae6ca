"""Events the scheduler emits, and their dispatch to listeners.

Events are frozen dataclasses grouped by origin: :class:`SchedulerEvent` (the scheduler
itself), :class:`JobEvent` (a job was added or removed) and :class:`RunEvent` (one fire of a
job, identified by ``job_id`` and ``scheduled_time``).

Events are only built when a listener is registered (this module is not even imported
before then). Listeners run on the thread that emitted the event (the ticker, a pool
thread or the caller of ``add_job``), so they should be quick. A listener that raises is
logged once and then ignored; it never breaks the scheduler::

    def on_failure(event: JobFailed) -> None:
        alert(f"{event.job_id} failed: {event.error}")

    sched.add_listener(on_failure, events=[JobFailed])
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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
