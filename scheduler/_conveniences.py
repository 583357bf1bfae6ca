"""Conveniences of the :class:`~scheduler.Scheduler` that build on its public API.

The ``schedule`` library's vocabulary (:meth:`Conveniences.every`, :meth:`Conveniences.adopt`)
and the hand-offs to Celery and RQ, each of which only calls ``add_job``; and the operator's
reads (:meth:`Conveniences.instances`, :meth:`Conveniences.health`), which read the store and
the pieces (:mod:`scheduler._probe`). Kept apart from the facade (:mod:`scheduler.scheduler`)
so that it stays the wiring and the core API.

Threads and state: none of its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from ._probe import Health
    from .job import Job
    from .scheduler import Scheduler
    from .stores import InstanceInfo
    from .triggers import Trigger

__all__ = ["Conveniences"]


class Conveniences:
    """Mixed into :class:`~scheduler.Scheduler`."""

    def every(self, interval: float = 1) -> Any:
        """The ``schedule`` library's vocabulary: ``sched.every(10).minutes.do(func)``."""
        from .fluent import Every

        return Every(cast("Scheduler", self), interval)

    def adopt(self, schedule_scheduler: Any) -> list[Job]:
        """Take over the jobs of a ``schedule.Scheduler`` (see :func:`scheduler.fluent.adopt`)."""
        from .fluent import adopt

        return adopt(cast("Scheduler", self), schedule_scheduler)

    def add_celery_task(self, name: str, trigger: Trigger | str | timedelta, **options: Any) -> Job:
        """Send the Celery task ``name`` at each fire, each fire once across every process
        sharing the store (extra ``[celery]``; see :func:`scheduler.contrib.celery.add_celery_task`
        for ``args``, ``kwargs``, ``options``, ``app`` and ``follow_results``)."""
        from .contrib.celery import add_celery_task

        return add_celery_task(cast("Scheduler", self), name, trigger, **options)

    def add_rq_job(self, func: Any, trigger: Trigger | str | timedelta, **options: Any) -> Job:
        """Enqueue ``func`` (``'pkg.mod:func'``) on an RQ queue at each fire, each fire once
        (extra ``[rq]``; see :func:`scheduler.contrib.rq.add_rq_job` for ``queue``, ``args``,
        ``kwargs``, ``connection`` and ``follow_results``)."""
        from .contrib.rq import add_rq_job

        return add_rq_job(cast("Scheduler", self), func, trigger, **options)

    def instances(self) -> list[InstanceInfo]:
        """The live scheduler instances sharing this scheduler's store (every process with a
        shared store; with the memory store, this one once started), oldest first. Each
        started scheduler registers itself, refreshes its row every third of
        ``lease_seconds`` and removes it on shutdown; a killed one drops out when its lease
        expires. Works on a scheduler that was never started.

        :raises StoreUnavailable: the store cannot be reached
        """
        return cast("Scheduler", self).store.list_instances()

    def health(self) -> Health:
        """Is this scheduler doing its job? ``ok`` is False, with ``reasons``, when it is
        not running, the store cannot be reached, the ticker is late by more than
        :data:`scheduler._probe.MAX_TICKER_LAG` seconds, or a job is overdue past its
        ``misfire_grace_time`` (see :class:`scheduler.Health`). Cheap: no store call while
        it runs (the store's state is the one the heartbeat saw last)."""
        from ._probe import process_health
        from .scheduler import pieces_of

        sched = cast("Scheduler", self)
        return process_health(pieces_of(sched), sched.state, sched.store)
