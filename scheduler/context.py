"""What a running job can know about itself: :func:`current_job`.

Inside a job::

    from scheduler import current_job

    def export() -> None:
        run = current_job()
        for chunk in chunks():
            if run.cancel_event.is_set():   # shutdown or timeout asked us to stop
                return
            write(chunk, idempotency_key=run.fire_key)

Cancellation is cooperative: a Python thread cannot be killed, so a job that never looks at
``cancel_event`` keeps running after a timeout or shutdown (which is reported and logged).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Protocol

    from .scheduler import Scheduler

    class _Pending(Protocol):
        """A run whose context is built when first asked for (``_liverun.LiveRun``)."""

        def context(self) -> RunContext: ...


__all__ = ["RunContext", "current_job"]

_local = threading.local()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """One run of a job, as seen from inside it."""

    job_id: str
    #: the fire this run belongs to (aware, in the job's zone); with ``job_id`` its identity
    scheduled_time: datetime
    #: 1 for the first attempt, 2 for the first retry, ...
    attempt: int
    #: set when shutdown or a timeout asks the job to stop, or the lease was lost
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: increases with every claim of the job in the store: a fencing token for writes
    fencing_token: int = 0
    run_id: str | None = None
    #: the scheduler running this job (None in a context built by hand); the Celery and RQ
    #: senders check their arguments against what it allowed
    scheduler: Scheduler | None = field(default=None, repr=False, compare=False)

    @property
    def fire_key(self) -> str:
        """``job_id@scheduled time in UTC``: a stable key for idempotent side effects."""
        from .stores import FireKey

        # scheduled_time is in the job's zone; the key is the store's, in UTC
        return FireKey(self.job_id, self.scheduled_time.astimezone(timezone.utc)).key

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


def current_job() -> RunContext | None:
    """The run executing on this thread, or None outside a job."""
    run: RunContext | _Pending | None = getattr(_local, "run", None)
    if run is None or isinstance(run, RunContext):
        return run
    return run.context()


def _set(run: RunContext | _Pending | None) -> None:
    _local.run = run
