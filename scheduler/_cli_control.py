"""``--queue`` on the three run-job commands: ask any running instance to run the job.

``scheduler run-job TARGET ID --queue``, ``flask scheduler run-job ID --queue`` and
``manage.py scheduler_jobs run ID --queue`` call :meth:`~scheduler.Scheduler.request_run`
instead of running the job here: the request is kept in the store, one running instance
takes it within a heartbeat, and the command prints the request's key (the ``run_id`` of
the run it becomes, to look up in the history) and exits 0.

Threads and state: none; standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["queue_run", "requested_by"]


def requested_by(command: str) -> str:
    """Who asks, as the history records it: ``'<command> (user@host)'``."""
    try:
        import getpass

        user = getpass.getuser()
    except Exception:  # no login name (a container without one): the uid says enough
        user = f"uid {os.getuid()}"
    return f"{command} ({user}@{os.uname().nodename})"


def queue_run(sched: Scheduler, job_id: str, command: str, echo: Callable[[str], Any]) -> int:
    """Queue a run of the job for a running instance; print its key; return 0.

    :raises JobNotFound: neither the app nor the store has the job
    :raises StoreUnavailable: the store cannot be reached (nothing was queued)
    """
    key = sched.request_run(job_id, requested_by=requested_by(command))
    where = "" if sched.store.shared else " (memory store: only this process can run it)"
    echo(f"{job_id}: queued as run {key}{where}")
    return 0
