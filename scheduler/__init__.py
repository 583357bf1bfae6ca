"""scheduler: periodic and one-off jobs in background threads for sync Python apps.

::

    from scheduler import Scheduler

    sched = Scheduler(timezone="Europe/Bratislava", store="sqlite:///jobs.db")

    @sched.job("30 2 * * *")          # DST-correct: once a day, even on changeover days
    def backup() -> None: ...

    sched.every(5).minutes.do(poll_inbox)
    sched.run_forever()               # SIGINT/SIGTERM shut it down gracefully

The contract names are importable from here; the rest lives in the modules named for it
(``scheduler.triggers``, ``scheduler.stores``, ``scheduler.events``, ``scheduler.testing``,
``scheduler.contrib``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .context import RunContext, current_job
from .exceptions import (
    ConfigurationError,
    DuplicateJobId,
    InvalidCronExpression,
    InvalidJob,
    InvalidStoreURL,
    InvalidTimezone,
    InvalidTrigger,
    JobNotFound,
    SchedulerAlreadyRunning,
    SchedulerError,
    SchedulerNotRunning,
    StoreDataError,
    StoreError,
    StoreUnavailable,
)
from .job import Job, JobOptions
from .scheduler import Scheduler
from .stores import InstanceInfo, RunOutcome, RunRecord, Store
from .triggers import Trigger
from .triggers.cron import Cron
from .triggers.daily import Daily
from .triggers.interval import Interval
from .triggers.once import Once

__all__ = [
    "ConfigurationError",
    "Cron",
    "Daily",
    "DuplicateJobId",
    "Health",
    "InstanceInfo",
    "Interval",
    "InvalidCronExpression",
    "InvalidJob",
    "InvalidStoreURL",
    "InvalidTimezone",
    "InvalidTrigger",
    "Job",
    "JobNotFound",
    "JobOptions",
    "Once",
    "RunContext",
    "RunOutcome",
    "RunRecord",
    "Scheduler",
    "SchedulerAlreadyRunning",
    "SchedulerError",
    "SchedulerNotRunning",
    "Store",
    "StoreDataError",
    "StoreError",
    "StoreUnavailable",
    "Trigger",
    "current_job",
]

__version__ = "0.1.0.dev0"

if _TYPE_CHECKING:
    from ._probe import Health


#: exported names loaded when first asked for: operators' reads are not part of every import
_LAZY = ("Health",)


def __getattr__(name: str) -> object:
    if name == "Health":
        from ._probe import Health

        return Health
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
