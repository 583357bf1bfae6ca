"""The store before ``start()``: listing stored jobs and previewing first fires.

Before the scheduler starts, ``get_jobs()``/``get_job()`` also list the jobs added at run time
to a durable store (read from their stored definitions, functions not imported), a job's
``next_run_time`` is the fire ``start()`` would place first (after the stored last claimed
fire, for catch-up), and ``remove_job()`` can delete a stored dynamic job. All of that reads
the store as ``start()`` opens it; a store that cannot be reached is tried once and then left
alone (a listing of twenty jobs must not wait twenty connect timeouts).

Threads and state: ``_opened`` (None: not tried; True: opened; False: unreachable) is
touched only by the callers of the public API before ``start()``. Two of them racing open
the store twice, which is harmless (``Store.open`` is idempotent); no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from .exceptions import JobNotFound, StoreUnavailable

if TYPE_CHECKING:
    from ._report import Reporter
    from .job import Job
    from .stores import Store, StoredJob

__all__ = ["StorePreview"]

_T = TypeVar("_T")


class StorePreview:
    """Reads of one scheduler's store before it starts.

    :param make_view: builds a listed, never-run Job from a stored one (``Job.from_stored``)
    """

    def __init__(
        self,
        *,
        store: Store,
        now: Callable[[], datetime],
        reporter: Reporter,
        make_view: Callable[[StoredJob], Job],
    ) -> None:
        self._store = store
        self.now = now
        self._reporter = reporter
        self._make_view = make_view
        self._opened: bool | None = None  # Invariant: public-API callers before start()

    def read(self, read: Callable[[Store], _T]) -> _T | None:
        """A read of a durable store (None for the memory store, or when the store cannot
        be reached: a preview must not fail)."""
        if not self._store.durable or self._opened is False:
            return None
        try:
            if self._opened is None:
                self._store.open()
                self._opened = True
            return read(self._store)
        except StoreUnavailable as exc:
            self._opened = False
            self._reporter.preview_unavailable(exc)
            return None

    def stored_jobs(self, known: set[str]) -> list[Job]:
        """The stored dynamic jobs whose ids are not in ``known``, as views."""
        stored = self.read(lambda store: store.load_jobs(dynamic_only=True)) or []
        return [self.view(item) for item in stored if item.definition.id not in known]

    def stored_job(self, job_id: str) -> Job | None:
        item = self.read(lambda store: store.get_job(job_id))
        if item is not None and item.definition.dynamic:
            return self.view(item)
        return None

    def view(self, item: StoredJob) -> Job:
        """A stored dynamic job as a :class:`Job`, without importing its function."""
        job = self._make_view(item)
        if job.broken is None and item.last_fire is not None:
            job._preview = job._effective.next_after(item.last_fire)
        return job

    def remove_stored(self, job_id: str) -> None:
        """``remove_job`` before start: delete a dynamic job from the store, unloaded.

        :raises JobNotFound: the store has no dynamic job of that id
        :raises StoreUnavailable: the caller asked to change a store that does not answer
        """
        if not self._opened:
            self._store.open()
            self._opened = True
        item = self._store.get_job(job_id)
        if item is None or not item.definition.dynamic:
            raise JobNotFound(job_id)
        self._store.unregister(job_id)
        self._reporter.job_removed(job_id)

    def first_fire(self, job: Job) -> datetime | None:
        """The fire ``start()`` would place first for ``job`` (the first fire after now,
        or after the stored last claimed fire), computed without starting."""
        now = self.now()
        stored = self.read(lambda store: store.get_job(job.id))
        # register() keeps the last claimed fire, and the anchor of an unchanged definition
        same = stored is not None and stored.fingerprint == job._fingerprint
        effective = job.trigger.anchored(stored.anchor if same and stored else now)
        last = stored.last_fire if stored is not None else None
        return effective.next_after(last if last is not None else now)
