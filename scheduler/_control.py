"""Control from any process: a pause every instance obeys, and runs asked for by hand.

The store keeps both (:mod:`scheduler.stores._control`): a ``paused`` flag on the job's row,
and requested runs as queued run rows with ``trigger="manual"``. This piece is the
scheduler's side of them:

* The facade's ``pause_job``/``resume_job`` write the flag first and change this process's
  copy of the job only once the store has it (a store that cannot be reached raises
  :class:`~scheduler.exceptions.StoreUnavailable` and nothing changed). ``request_run``
  queues a run. All three work on a scheduler that was never started: the store is opened
  as the previews open it. A job the code declares whose row is not in the store yet (no
  instance has started with it) is registered first, as ``start()`` would.
* Once per heartbeat (:meth:`Control.poll`, on the heartbeat thread, at most every third of
  the lease, and at once when this process asked for a run or finished one) a running
  instance reads the ids of the paused jobs and makes its jobs agree, and takes the queued
  requests for the jobs it has: one atomic claim each, under ``max_instances`` (a request
  that finds the job at its limit stays queued for the next look). A request whose job has
  no row any more is recorded ``skipped``; one for a job another instance declares is left
  to it.
* ``run_job``/``call_job`` runs are requested and taken by this instance in one step
  (:meth:`~scheduler.stores._control.ControlStore.claim_manual`), so they are recorded like
  any run, with ``trigger="manual"``.

Threads and state: ``Control._lock`` guards ``_changes``, ``_writing`` (this process's
pause calls begun and ended, and under way) and ``_followed`` (the paused ids the heartbeat
followed last), and is held while this process's copies of the
jobs follow a flag, by ``pause_job`` after its store write and by the heartbeat after its
read: the heartbeat drops a read that a ``pause_job`` of this process may have overtaken, so
the two never undo each other. It comes before ``JobRegistry._lock`` in the lock order; it
is never held across store I/O nor a listener call (only flags flip under it; a resumed job
is placed after). ``_asked`` (a plain flag) asks the heartbeat for an early
look; ``_opened`` is touched by API callers only, as in :mod:`scheduler._preview`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._report import short_repr
from .exceptions import JobNotFound, SchedulerNotRunning
from .stores import Claim, ClaimStatus, RunOutcome
from .stores._control import REMOVED_REASON

if TYPE_CHECKING:
    from ._preview import StorePreview
    from ._registry import JobRegistry
    from ._report import Reporter
    from ._runner import LiveRun, Runner
    from .context import RunContext
    from .job import Job
    from .stores import Owner, Store

__all__ = ["Control"]

#: queued requests looked at per heartbeat, oldest first (those for jobs of other instances
#: are passed over: more than this many of them would hide newer ones)
REQUEST_BATCH = 1000
#: the error of a request another instance's job took while this one had no copy of it
NOT_HERE = "the instance that took the request does not have this job"


class Control:
    """Pause flags and requested runs, for one scheduler."""

    def __init__(
        self,
        *,
        store: Store,
        owner: Owner,
        lease_seconds: float,
        registry: JobRegistry,
        runner: Runner,
        reporter: Reporter,
        now: Callable[[], datetime],
        new_context: Callable[..., RunContext],
        wake_heartbeat: Callable[[], None],
        preview: StorePreview,
    ) -> None:
        self._store = store
        self._preview = preview
        self._owner = owner
        self._lease = lease_seconds
        self._registry = registry
        self._runner = runner
        self._reporter = reporter
        self._now = now
        self._new_context = new_context
        self._wake = wake_heartbeat
        self._opened = False  # Invariant: API callers (and start()) only
        self._lock = threading.RLock()  # before JobRegistry._lock; never across store I/O
        self._changes = 0  # Invariant: under _lock; pause calls begun and ended here
        self._writing = 0  # Invariant: under _lock; pause calls under way here
        #: the store's paused ids as last followed (Invariant: under _lock): a beat looks at
        #: these and the ids paused now, not at every job (100,000 jobs idle stay cheap)
        self._followed: set[str] = set()
        self._asked = False  # Invariant: set by anyone, cleared by the heartbeat

    # -- the facade's side -----------------------------------------------------------------
    def set_paused(self, job_id: str, paused: bool) -> Job:
        """Write the flag, then follow it here (a resumed job is placed from now on if the
        scheduler runs). Returns this process's job, or, when it has none (another
        instance's job: this process is a dashboard or a shell), a view of the stored one.

        :raises JobNotFound: neither this process nor the store has the job
        :raises StoreUnavailable: the store cannot be reached (nothing changed)
        """
        local = self._registry.find(job_id)
        with self._lock:
            self._writing += 1
            self._changes += 1
        try:
            stored = self._in_store(local, job_id, lambda: self._store.set_paused(job_id, paused))
            if local is None:
                return self._preview.view(stored)
            with self._lock:  # the store has it: now this process's copy (see poll)
                resumed = self._flip(local, paused)
        finally:
            with self._lock:
                self._writing -= 1
                self._changes += 1
        if resumed and self._runner.accepting:
            self._place(local)
        self._reporter.paused(job_id, paused, by_store=False)
        return local

    def request(self, job_id: str, requested_by: str | None) -> str:
        """Queue a run of the job; its key (the run id it becomes).

        :raises JobNotFound: neither this process nor the store has the job
        """
        local = self._registry.find(job_id)
        store = self._store
        run_id: str = self._in_store(
            local, job_id, lambda: store.request_run(job_id, requested_by=requested_by)
        )
        self._reporter.run_requested(job_id, run_id, requested_by)
        self.ask()
        return run_id

    def ask(self) -> None:
        """Have the heartbeat look at the requests now (a run was asked for or finished)."""
        self._asked = True
        self._wake()

    def run_now(self, job: Job, requested_by: str | None, *, running: bool) -> Future[Any]:
        """``run_job``: a run taken here at once and run on the pool; the Future has its
        return value or exception.

        :raises SchedulerNotRunning: not ``running``
        :raises StoreUnavailable: the store cannot be reached (nothing ran)
        """
        if not running:
            raise SchedulerNotRunning("run_job needs a running scheduler; call start() first")
        claim = self._claim_manual(job, requested_by)
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()

        def done(run: LiveRun | None) -> None:
            _settle(future, run)
            self.ask()

        self._runner.submit_claim(job, claim, done=done)
        return future

    def call_here(self, job: Job, requested_by: str | None) -> Any:
        """``call_job``: a run taken here at once and called on this thread (no retries, as
        before); recorded, then its value returned or its exception raised.

        :raises StoreUnavailable: the store cannot be reached (nothing ran)
        """
        claim = self._claim_manual(job, requested_by)
        assert claim.run_id is not None
        ctx = self._new_context(
            job_id=job.id,
            scheduled_time=claim.fire.scheduled_time.astimezone(job.timezone),
            attempt=1,
            cancel_event=threading.Event(),
            fencing_token=claim.token,
            run_id=claim.run_id,
        )
        with contextlib.suppress(Exception):
            self._store.mark_started(claim, attempt=1)
        outcome, error, result = RunOutcome.SUCCEEDED, None, None
        try:
            with self._renewing(claim):
                value = self._runner.call_now(job, ctx)
        except BaseException as exc:
            outcome, error = RunOutcome.FAILED, f"{type(exc).__name__}: {exc}"
            raise
        else:
            result = short_repr(value)
            return value
        finally:
            with contextlib.suppress(Exception):
                self._store.finish(
                    claim,
                    outcome=outcome,
                    attempt=1,
                    error=error,
                    result=result,
                    cancel_requested=ctx.cancel_event.is_set(),
                )

    def load_paused(self) -> None:
        """At ``start()``: the jobs paused in the store stay paused here (before any fire
        is placed).

        :raises StoreUnavailable: the store does not answer
        """
        self._opened = True
        paused = self._store.paused_ids()
        with self._lock:
            for job in self._registry.jobs():
                if job.id in paused and not job.paused:
                    self._flip(job, True)
            self._followed = paused

    def refresh(self, jobs: list[Job]) -> None:
        """Before ``start()``: ``paused`` of the listed jobs as the store says, read as the
        previews read it (a listing must not fail: an unreachable store leaves the flags)."""
        if not jobs:
            return
        paused = self._preview.read(lambda store: store.paused_ids())
        if paused is None:
            return
        for job in jobs:
            job.paused = job.id in paused

    # -- the heartbeat's side --------------------------------------------------------------
    def take_asked(self) -> bool:
        asked, self._asked = self._asked, False
        return asked

    def poll(self) -> None:
        """Follow the store's pause flags, and take the queued requests this instance can
        run. Called on the heartbeat thread while the store is up.

        :raises StoreUnavailable: the store stopped answering (the next beat tries again)
        """
        if not self._runner.accepting:
            return
        changed: list[tuple[Job, bool]] = []
        # A store of this process alone (memory) has no other writer: pause_job flipped the
        # flag here already, and there is nothing to follow.
        if self._store.shared:
            with self._lock:
                changes = self._changes
            paused = self._store.paused_ids()
            with self._lock:
                # A pause_job of this process under way, or made since the read, may have
                # overtaken it: its own change stands, and the next beat reads again.
                if changes == self._changes and not self._writing:
                    changed = self._follow(paused)
        for job, now_paused in changed:
            if not now_paused:
                self._place(job)
            self._reporter.paused(job.id, now_paused, by_store=True)
        self._take_requests()

    def _follow(self, paused: set[str]) -> list[tuple[Job, bool]]:
        """Flip this process's flags to the store's (caller holds ``_lock``); the jobs
        changed, and whether each is now paused."""
        changed = []
        # Only a job paused now or at the last beat can differ: every pause and resume of
        # this process went through the store first, and a job added since with a paused id
        # is in ``paused``.
        for job_id in paused | self._followed:
            job = self._registry.find(job_id)
            if job is None:
                continue
            want = job_id in paused
            if want != job.paused:
                self._flip(job, want)
                changed.append((job, want))
        self._followed = paused
        return changed

    def _flip(self, job: Job, paused: bool) -> bool:
        """Set the flag of this process's job (a paused one leaves the ticker's heap);
        True when it was paused and is resumed now (then it is to be placed). Only flags:
        no listener is called and nothing is placed under ``_lock``."""
        with contextlib.suppress(JobNotFound):  # removed meanwhile
            if paused:
                self._registry.pause(job.id)
                return False
            was = job.paused
            self._registry.resume(job.id, place=False)
            return was
        return False

    def _place(self, job: Job) -> None:
        """A resumed job fires again from now on: the paused time is not caught up."""
        self._registry.schedule_first(job, after=self._now())

    def _take_requests(self) -> None:
        full: set[str] = set()  # jobs at max_instances: their later requests wait too
        foreign: set[str] = set()  # jobs another instance declares: it takes their requests
        for request in self._store.queued_runs(REQUEST_BATCH):
            job_id = request.job_id
            if job_id in full or job_id in foreign or not self._runner.accepting:
                continue
            job = self._registry.find(job_id)
            if job is None and self._store.get_job(job_id) is not None:
                foreign.add(job_id)
                continue
            claim = self._store.claim_request(
                request.run_id,
                owner=self._owner,
                lease_seconds=self._lease,
                max_instances=None if job is None else job.options.max_instances,
            )
            if claim.status is ClaimStatus.WAITING:
                full.add(job_id)
            elif claim.status is ClaimStatus.SKIPPED:
                self._reporter.request_skipped(job_id, request.run_id, REMOVED_REASON)
            elif claim.status is ClaimStatus.CLAIMED:
                if job is None:  # the row came back between the two reads: not ours to run
                    self._store.finish(claim, outcome=RunOutcome.SKIPPED, attempt=1, error=NOT_HERE)
                    continue
                self._runner.submit_claim(job, claim, done=lambda _run: self.ask())

    # -- helpers ---------------------------------------------------------------------------
    def _open(self) -> None:
        if not self._opened:
            self._store.open()
            self._opened = True

    def _in_store(self, local: Job | None, job_id: str, call: Callable[[], Any]) -> Any:
        """``call()`` on the open store; when the store has no row of a job this process
        declares (no instance has started with it yet), register it first, as ``start()``
        would, and call again."""
        self._open()
        try:
            return call()
        except JobNotFound:
            if local is None:
                raise
        self._registry.register_row(local)
        return call()

    def _claim_manual(self, job: Job, requested_by: str | None) -> Claim:
        store = self._store
        return self._in_store(  # type: ignore[no-any-return]
            job,
            job.id,
            lambda: store.claim_manual(
                job.id, owner=self._owner, lease_seconds=self._lease, requested_by=requested_by
            ),
        )

    @contextlib.contextmanager
    def _renewing(self, claim: Claim) -> Iterator[None]:
        """Renew the lease of a run called on this thread every third of the lease (a
        scheduler that was never started has no heartbeat to do it)."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self._lease / 3):
                with contextlib.suppress(Exception):
                    self._store.renew([claim], lease_seconds=self._lease)

        thread = threading.Thread(target=renew, name="scheduler-call-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()


def _settle(future: Future[Any], run: LiveRun | None) -> None:
    """Give ``run_job``'s Future what the run's last attempt gave."""
    last = run.last if run is not None else None
    if last is None:
        why = "the scheduler is shutting down, or the run's lease was lost before it started"
        future.set_exception(RuntimeError(f"the run did not start: {why}"))
        return
    ok, value, exc = last
    if ok:
        future.set_result(value)
    else:
        future.set_exception(exc if exc is not None else RuntimeError("the run failed"))
