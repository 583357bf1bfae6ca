"""Dynamic-job sync: jobs added at run time to a shared store, by any instance.

With a shared store, ``add_job`` on a running scheduler persists the job (``dynamic``) so
every instance runs it. :meth:`DynamicSync.sync` runs at ``start()`` and then every
:data:`SYNC_INTERVAL` seconds on the heartbeat thread: it loads the stored dynamic jobs that
this instance does not have (importing their functions by name, under the trust rule of
:mod:`scheduler._refs`), marks those that cannot be loaded as broken (kept in the store, not
run), and drops the jobs another instance removed.

Threads and state: no state of its own. It calls the store without any lock, and the
registry only through its methods (which take and release the registry's lock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import TYPE_CHECKING

from ._refs import resolve
from .exceptions import InvalidJob, SchedulerError
from .job import JobOptions
from .triggers import from_dict as trigger_from_dict

if TYPE_CHECKING:
    from ._registry import JobRegistry
    from ._report import Reporter
    from .job import Job
    from .stores import JobDefinition, Store

__all__ = ["SYNC_INTERVAL", "DynamicSync"]

#: seconds between two syncs of the jobs added at run time (heartbeat thread)
SYNC_INTERVAL = 10.0

#: builds a Job of this scheduler: ``make_job(func, trigger, **fields)``
MakeJob = Callable[..., "Job"]


class DynamicSync:
    """Loads and drops the jobs added at run time, for one scheduler."""

    def __init__(
        self,
        *,
        store: Store,
        registry: JobRegistry,
        reporter: Reporter,
        timezone: tzinfo,
        make_job: MakeJob,
    ) -> None:
        self._store = store
        self._registry = registry
        self._reporter = reporter
        self._timezone = timezone
        self._make_job = make_job

    def sync(self, *, place: bool) -> None:
        """Load jobs added at run time (by any instance) and drop those removed; with
        ``place`` (the scheduler runs), place the loaded ones.

        :raises StoreUnavailable: the store does not answer
        """
        stored = {s.definition.id: s for s in self._store.load_jobs(dynamic_only=True)}
        for job_id, item in stored.items():
            if self._registry.find(job_id) is not None or item.broken:
                continue
            job = self._load(job_id, item.definition)
            if job is not None:
                self._registry.add_loaded(job, activate=place)
        self._registry.drop_dynamic(keep=stored)

    def _load(self, job_id: str, definition: JobDefinition) -> Job | None:
        """The stored definition as a Job, or None (marked broken in the store)."""
        try:
            func = resolve(definition.func_ref or "")
            trigger = trigger_from_dict(definition.trigger)
            options = JobOptions.build(definition.options)
        except (SchedulerError, ValueError, TypeError) as exc:
            self._store.mark_broken(job_id, str(exc))
            self._reporter.unloadable(job_id, exc)
            return None
        try:
            return self._make_job(
                func,
                trigger.with_default_timezone(self._timezone),
                id=job_id,
                name=definition.name,
                args=definition.args,
                kwargs=definition.kwargs,
                options=options,
                tags=(),
                dynamic=True,
                durable=True,
            )
        except InvalidJob as exc:
            self._store.mark_broken(job_id, str(exc))
            return None
