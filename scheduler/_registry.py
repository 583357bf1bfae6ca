"""The job registry: which jobs exist here, and placing their fires in time.

A job is placed by registering it in the store (which answers with the interval anchor and
the last claimed fire, for catch-up) and pushing its next fire into the ticker's heap. A job
whose trigger will not fire again leaves the registry (``JobRemoved``). The runner places a
job's next fire when it picks the current one up (:meth:`JobRegistry.reschedule_after`);
during a store outage the job is *parked* (out of the heap) until the store answers.

Threads and state
-----------------
* ``_jobs`` (id -> Job) and every job's ``paused`` flag are guarded by ``JobRegistry._lock``.
  The public API's callers, pool threads (rescheduling) and the heartbeat (dynamic sync)
  take it. Single-key reads (:meth:`find`, :meth:`is_current`) skip it: a dict lookup is
  atomic, and every decision that must not race (placing a fire, removing a job) is taken
  again under the lock.
* Lock order: the registry's lock, then the ticker's (``Ticker.push``/``drop`` are called
  under it, so that a fire is never placed for a job that was removed meanwhile). Nothing
  else is taken under it: **no store I/O and no listener call while it is held** (a
  listener may wait on a pool thread that needs it; a store may take seconds).
* A job's ``_anchor`` and ``_effective`` trigger (anchored by the store) are rebound by
  whichever thread registers the job (:meth:`JobRegistry.adopt_anchor`); readers see the old
  or the new grid, and the claimer catches a fire computed on the old one.
* When the store says it lost its data set (``Store.data_losses`` grew), every job is
  registered again (:meth:`JobRegistry.check_data_loss`). ``_losses_seen`` is guarded by
  ``_loss_lock``, which serialises that re-registration: it is held across store I/O, so it
  comes *before* the registry's lock in the lock order and is never taken under it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from ._ticker import Ticker
from ._tz import UTC
from .exceptions import DuplicateJobId, JobNotFound, StoreUnavailable

if TYPE_CHECKING:
    from ._report import Reporter
    from .job import Job
    from .stores import Owner, Registration, Store, StoredJob

__all__ = ["JobRegistry"]

#: jobs registered with the store in one call at start (SQL stores: one transaction)
REGISTER_BATCH = 500


class JobRegistry:
    """The jobs of one scheduler, and where their next fires are.

    :param now: the scheduler's ``now`` (store time)
    """

    def __init__(
        self,
        *,
        store: Store,
        owner: Owner,
        ticker: Ticker,
        reporter: Reporter,
        now: Callable[[], datetime],
        forget: Callable[[str], None],
        jobs: Iterable[Job] = (),
    ) -> None:
        self._store = store
        self._owner = owner
        self._ticker = ticker
        self._reporter = reporter
        self._now = now
        self._forget = forget  # a removed job's fire no longer waits for the store
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {job.id: job for job in jobs}  # Invariant: under _lock
        self._loss_lock = threading.Lock()
        #: the store's data_losses when this instance last registered its jobs
        self._losses_seen = store.data_losses  # Invariant: under _loss_lock
        self._register_local = _local_registration(store)

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._jobs)

    def jobs(self) -> list[Job]:
        """The jobs, in the order they were added."""
        with self._lock:
            return list(self._jobs.values())

    def after_fork_jobs(self) -> list[Job]:
        """The jobs, for a forked child rebuilding its pieces, out of the parent's heap
        (gone with the parent's ticker). Read without the lock: only the forking thread
        exists there, and a vanished parent thread may hold it."""
        jobs = list(self._jobs.values())
        Ticker.out_after_fork(jobs)
        return jobs

    def find(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def get(self, job_id: str) -> Job:
        """:raises JobNotFound: no such id"""
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def is_current(self, job: Job) -> bool:
        """``job`` is the registered job of its id and is not paused: its fires are fires."""
        return self._jobs.get(job.id) is job and not job.paused

    # -- changing --------------------------------------------------------------------------
    def add(self, job: Job, *, replace_existing: bool, activate: bool) -> None:
        """Register ``job`` (replacing the job of its id when allowed) and, with
        ``activate``, register it in the store and place its first fire.

        :raises DuplicateJobId: the id is taken and ``replace_existing`` is False
        :raises StoreUnavailable: (with ``activate``) then nothing was added or replaced
        """
        with self._lock:
            old = self._jobs.get(job.id)
            if old is not None and not replace_existing:
                raise DuplicateJobId(job.id)
            old_next = old._next_fire if old is not None else None
            if old is not None:
                self._ticker.drop(old)
            # In the registry before activate(): placing its first fire checks that the job
            # is the current one for its id.
            self._jobs[job.id] = job
        if activate:
            self._activate_or_undo(job, old, old_next)
        self._reporter.job_added(job.id)

    def add_loaded(self, job: Job, *, activate: bool) -> None:
        """Register a job loaded from the store (added at run time by some instance) unless
        its id is taken meanwhile; with ``activate``, place it.

        :raises StoreUnavailable: then it is not registered (the next sync tries again)
        """
        with self._lock:
            if job.id in self._jobs:
                return
            self._jobs[job.id] = job
        if activate:
            self._activate_or_undo(job, None, None)

    def _activate_or_undo(self, job: Job, old: Job | None, old_next: datetime | None) -> None:
        """:meth:`activate` the job just registered; when that fails, put back what its id
        held before (``old``, at ``old_next``), unless the id changed hands meanwhile."""
        try:
            self.activate(job)
        except BaseException:
            with self._lock:
                if self._jobs.get(job.id) is job:
                    if old is None:
                        del self._jobs[job.id]
                    else:
                        self._jobs[job.id] = old
                        if old_next is not None and not old.paused:
                            self._ticker.push(old, old_next)
            raise

    def remove(self, job_id: str) -> Job:
        """Take the job out (and out of the store when it was added at run time).

        :raises JobNotFound: no such id
        """
        with self._lock:
            job = self._jobs.pop(job_id, None)
            if job is None:
                raise JobNotFound(job_id)
            self._ticker.drop(job)
        self._forget(job_id)
        # A process-local store's row is this process's alone: it goes too (kept, it grew
        # with every job ever removed). A shared store keeps the rows of declared jobs.
        if job.dynamic or not self._store.shared:
            with contextlib.suppress(StoreUnavailable):
                self._store.unregister(job_id)
        self._reporter.job_removed(job_id)
        return job

    def drop_dynamic(self, keep: Iterable[str]) -> list[Job]:
        """Drop the jobs added at run time whose id is not in ``keep`` (another instance
        removed them from the store); returns them."""
        keep = set(keep)
        with self._lock:
            gone = [j for j in self._jobs.values() if j.dynamic and j.id not in keep]
            for job in gone:
                del self._jobs[job.id]
                self._ticker.drop(job)
        return gone

    def pause(self, job_id: str) -> Job:
        """Stop placing the job's fires here (the store's flag is written by the caller)."""
        with self._lock:
            job = self.get(job_id)
            job.paused = True
            self._ticker.drop(job)
        return job

    def resume(self, job_id: str, *, place: bool) -> Job:
        """Unpause; with ``place`` (the scheduler runs), fire again from now on."""
        with self._lock:
            job = self.get(job_id)
            was_paused, job.paused = job.paused, False
        if was_paused and place:
            self.schedule_first(job, after=self._now())
        return job

    # -- placing in time -------------------------------------------------------------------
    def activate(self, job: Job) -> None:
        """Register the job in the store and place its first fire (catch-up from the stored
        last fire). Called without the lock: it does store I/O.

        :raises StoreUnavailable: the store cannot be reached
        """
        local = self._register_local
        if local is not None and job.definition is None:  # nothing durable: built if read
            reg = local(job.id, job._fingerprint, job, owner=self._owner)
        else:
            reg = self._store.register(job.get_definition(), owner=self._owner)
        self._placed(job, reg)

    def _placed(self, job: Job, reg: Registration) -> None:
        """What follows the job's registration: adopt the stored anchor, place its first
        fire (catch-up from the stored last fire)."""
        if reg.replaced is not None and reg.replaced.registered_by != str(self._owner):
            self._reporter.definition_replaced(job, reg.replaced, self._owner)
        self._reporter.registered(job.id)
        self.adopt_anchor(job, reg.anchor)
        if job.paused:
            return
        if reg.last_fire is not None:
            self.reschedule_after(job, reg.last_fire)
        else:
            self.schedule_first(job, after=self._now())

    def register_row(self, job: Job) -> None:
        """Register the job's definition in the store without placing a fire: a pause or a
        requested run from a process where no instance has started with it yet. Called
        without the lock: it does store I/O.

        :raises StoreUnavailable: the store cannot be reached
        """
        reg = self._store.register(job.get_definition(), owner=self._owner)
        self.adopt_anchor(job, reg.anchor)

    def adopt_anchor(self, job: Job, anchor: datetime) -> None:
        """Count the job's fires from the anchor the store keeps (every instance then fires
        on one grid). A fire already placed on another grid is re-placed when it comes
        due: the claimer does not claim it."""
        job._anchor = anchor
        job._effective = job.trigger.anchored(anchor)

    def register_again(self, job: Job, stored: StoredJob | None) -> bool:
        """A claim of ``job`` was refused and the store holds ``stored`` (None: no row). True
        when the job is registered again, so that its claim can be made once more: after
        the store lost its data (every job of this instance is registered again), or for a
        job the code declares whose row is gone. False when another definition won, or a
        job added at run time was removed by another instance."""
        if self.check_data_loss():
            return self._jobs.get(job.id) is job
        if stored is not None or job.dynamic:
            return False
        # The row is gone although this code declares the job: the store lost its data (a
        # wiped table, a failover) without saying so. Declared jobs belong to the code.
        reg = self._store.register(job.get_definition(), owner=self._owner)
        self.adopt_anchor(job, reg.anchor)
        self._reporter.reregistered(job.id)
        return True

    def check_data_loss(self) -> bool:
        """When the store has seen its data set lost since the last look, register every job
        of this instance again, those added at run time included (any instance that still
        holds a definition brings it back), adopting the anchor the store then keeps. True
        when it did.

        :raises StoreUnavailable: then it is all done again once the store answers
        """
        losses = self._store.data_losses
        if losses == self._losses_seen:
            return False
        with self._loss_lock:  # held across store I/O; the registry's lock is not
            if losses == self._losses_seen:
                return False
            jobs = self.jobs()
            registered: list[str] = []
            gone: list[tuple[str, str]] = []
            for job in jobs:
                try:
                    reg = self._store.register(job.get_definition(), owner=self._owner)
                except StoreUnavailable:
                    raise  # _losses_seen unchanged: all of it is done again once it answers
                except Exception as exc:  # a data error: this job cannot come back
                    gone.append((job.id, f"{type(exc).__name__}: {exc}"))
                    continue
                self.adopt_anchor(job, reg.anchor)
                self._reporter.registered(job.id)
                registered.append(job.id)
            self._losses_seen = losses
        dynamic = sum(1 for job in jobs if job.dynamic and job.id in registered)
        self._reporter.data_lost(registered, dynamic, gone)
        return True

    def activate_all(self) -> None:
        """:meth:`activate` every job (at ``start()``), registering them with the store
        :data:`REGISTER_BATCH` at a time (one transaction each in the SQL stores).

        :raises StoreUnavailable: the store cannot be reached
        """
        jobs = self.jobs()
        if self._register_local is not None:  # the memory store: no round trip to save
            for job in jobs:
                if self._jobs.get(job.id) is job:
                    self.activate(job)
            return
        for i in range(0, len(jobs), REGISTER_BATCH):
            batch = [job for job in jobs[i : i + REGISTER_BATCH] if self._jobs.get(job.id) is job]
            regs = self._store.register_many([j.get_definition() for j in batch], owner=self._owner)
            for job, reg in zip(batch, regs, strict=True):
                if self._jobs.get(job.id) is job:
                    self._placed(job, reg)

    def schedule_first(self, job: Job, *, after: datetime) -> None:
        """Place the job's first fire after ``after`` (now), or after its stored anchor when
        that is later (:func:`_past_anchor`)."""
        fire = job._effective.next_after(_past_anchor(job, after))
        if fire is None:
            self.finished(job)
        else:
            self.place(job, fire.astimezone(UTC))

    def reschedule_after(self, job: Job, fire: datetime) -> None:
        """Place the job's fire after ``fire`` (or retire a job that is done)."""
        nxt = job._effective.next_after(fire)
        if nxt is None:
            self.finished(job)
        else:
            self.place(job, nxt.astimezone(UTC))

    def place(self, job: Job, fire: datetime) -> None:
        """Put ``fire`` (aware UTC) in the ticker's heap, if ``job`` is still current."""
        with self._lock:
            if self._jobs.get(job.id) is job and not job.paused:
                self._ticker.push(job, fire)

    def park(self, job: Job) -> bool:
        """Take the job's fire out of the heap while the store is out; False when the job
        is no longer current (nothing waits for it then)."""
        with self._lock:
            if self._jobs.get(job.id) is not job or job.paused:
                return False
            self._ticker.drop(job)
            return True

    def finished(self, job: Job) -> None:
        """The trigger will not fire again: the job leaves the registry (its last run, if
        one is under way, still finishes and is recorded)."""
        with self._lock:
            removed = self._jobs.get(job.id) is job
            if removed:
                del self._jobs[job.id]
                self._ticker.drop(job)
        if removed:
            self._reporter.job_removed(job.id)

    def after_run(self, job: Job) -> None:
        """A claimed run finished: a finished one-off job added at run time leaves the
        store (called without the lock: store I/O)."""
        if job.dynamic and job.id not in self._jobs:
            with contextlib.suppress(StoreUnavailable):
                self._store.unregister(job.id)


def _past_anchor(job: Job, after: datetime) -> datetime:
    """``after`` (now), or the job's stored anchor when that is later: the time the first
    fire of a job being placed (at start, on resume) comes after.

    The anchor an interval counts from (the job's first registration) is the origin of its
    grid, not one of its fires, but the anchored trigger answers any earlier time with the
    anchor itself. Now by the store's clock can be earlier: it is this host's clock
    corrected by a skew measured to within the store's round trip, so it reads up to a
    few ms (under load) before an anchor the store has just set. A fire re-placed from a
    grid since left is another matter: it is due, and the anchor is where it runs
    (:meth:`JobRegistry.reschedule_after`).
    """
    anchor = job._anchor
    if anchor is not None and job._effective is not job.trigger and after < anchor:
        return anchor
    return after


def _local_registration(store: Store) -> Callable[..., Registration] | None:
    """The memory store's :meth:`~scheduler.stores.memory.MemoryStore.register_local`, which
    builds a job's definition only when read; None for another store, or a memory store
    whose ``register`` a subclass overrides (every registration must go through it)."""
    from .stores.memory import MemoryStore

    if isinstance(store, MemoryStore) and type(store).register is MemoryStore.register:
        return store.register_local
    return None
