"""Dynamic-job sync: jobs added at run time to a shared store, by any instance.

With a shared store, ``add_job`` on a running scheduler persists the job (``dynamic``) so
every instance runs it. :meth:`DynamicSync.sync` runs at ``start()`` and then every
:data:`SYNC_INTERVAL` seconds on the heartbeat thread: it loads the stored dynamic jobs that
this instance does not have (importing their functions by name, under the trust rule of
:mod:`scheduler._refs`: only functions this process allowed), marks those that cannot be
loaded as broken (kept in the store, not run), and drops the jobs another instance removed.
A job row that cannot even be parsed stops no pass: it is reported once per cause.

Threads and state: ``_error`` (the cause last reported) is touched by ``start()`` and then
only by the heartbeat thread, never at once. It calls the store without any lock, and the
registry only through its methods (which take and release the registry's lock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import TYPE_CHECKING

from .exceptions import StoreUnavailable
from .job import JobOptions
from .triggers import from_dict as trigger_from_dict

if TYPE_CHECKING:
    from ._refs import Allowlist
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
        allowed: Allowlist,
    ) -> None:
        self._store = store
        self._registry = registry
        self._reporter = reporter
        self._timezone = timezone
        self._make_job = make_job
        self._allowed = allowed
        self._error: str | None = None  # Invariant: start(), then the heartbeat thread only

    def sync(self, *, place: bool) -> None:
        """Load jobs added at run time (by any instance) and drop those removed; with
        ``place`` (the scheduler runs), place the loaded ones.

        :raises StoreUnavailable: the store does not answer
        """
        try:
            loaded = self._store.load_jobs(dynamic_only=True)
        except StoreUnavailable:
            raise
        except Exception as exc:
            # A row written by hand (or by an attacker) that cannot even be parsed must not
            # stop start() nor every later pass: the code's own jobs go on; dynamic ones
            # stay as they are until the row is fixed or removed. Said once per cause.
            if str(exc) != self._error:
                self._error = str(exc)
                self._reporter.unreadable_rows(exc)
            return
        self._error = None
        if self._registry.check_data_loss():  # an empty store is not a removal of every job
            loaded = self._store.load_jobs(dynamic_only=True)
        stored = {s.definition.id: s for s in loaded}
        for job_id, item in stored.items():
            if self._registry.find(job_id) is not None or item.broken:
                continue
            job = self._load(job_id, item.definition)
            if job is not None:
                job.paused = item.paused  # paused for every instance: not placed here either
                self._registry.add_loaded(job, activate=place)
        for job in self._registry.drop_dynamic(keep=stored):
            self._reporter.dropped(job.id)

    def _load(self, job_id: str, definition: JobDefinition) -> Job | None:
        """The stored definition as a Job, or None (marked broken in the store)."""
        ref = str(definition.func_ref or "")
        try:
            # The trust rule first: a function this process did not allow is refused
            # before anything is imported (importing a module runs its code).
            func = self._allowed.resolve(ref)
            # and arguments naming further code or hosts (the Celery/RQ senders'): the
            # function's own check, before anything they name is imported or reached
            self._allowed.check_args(ref, list(definition.args), dict(definition.kwargs))
            trigger = trigger_from_dict(definition.trigger)
            return self._make_job(
                func,
                trigger.with_default_timezone(self._timezone),
                id=job_id,
                name=definition.name,
                args=definition.args,
                kwargs=definition.kwargs,
                options=JobOptions.build(definition.options),
                tags=(),
                dynamic=True,
                durable=True,
            )
        except Exception as exc:  # whatever a stored row holds, it must not stop us
            self._store.mark_broken(job_id, str(exc))
            self._reporter.unloadable(job_id, ref, exc)
            return None
