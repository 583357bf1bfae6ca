"""One fire in a pool thread: misfire check, claim, lease, call, retries, outcome.

Threads and state
-----------------
* The ticker calls :meth:`Runner.submit`; everything else here runs on a pool thread, except
  what the heartbeat (:meth:`Runner.live_runs`, :meth:`Runner.time_out`) and shutdown
  (:meth:`Runner.stop_accepting`, :meth:`Runner.cancel_all`, :meth:`Runner.wait_idle`,
  :meth:`Runner.still_running`) call.
* A run that holds a lease is a :class:`LiveRun` in ``_live`` (runs asked for by hand too:
  they are claimed, :mod:`scheduler._control`); every job's ``run_count`` is counted. Both
  are guarded by ``Runner._lock``, a leaf lock (nothing is called under it). Only the pool
  thread that owns a LiveRun records its outcome; the heartbeat sets its flags
  (``timed_out``, ``fenced``) and its ``cancel_event``.
* ``_inflight`` (fires handed to the pool and not finished) is guarded by ``_count_lock``,
  taken twice per fire; waiters poll it rather than being notified.
* ``accepting`` is rebound by ``start()`` and shutdown, read by any thread.
* A job with ``executor="process"`` is called in a worker process (:mod:`scheduler._procpool`,
  made on first use); its pool thread waits for the answer, so everything above holds.
* A job that keeps failing logs its traceback once, then one line per failure with the
  count: ``job._failing`` (failures in a row, last error type) is guarded by ``_lock``.
* The runner is the only place that calls user code, and it always finishes by recording
  an outcome: a fire is run, or recorded as skipped or missed, or (when the store is down
  and nothing can be recorded) handed back to wait for the store, to be judged by the
  catch-up rules when it returns. Nothing a job does, ``SystemExit`` included, gets out.

The runner receives what it uses (store, registry, store health, reporter, pool, clock); it
never sees the Scheduler.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import context
from ._claim import FireClaimer
from ._liverun import LiveRun
from ._log import format_duration
from ._report_runs import history_error, short_repr
from ._retry import FINISH_RETRY_DELAYS, job_retry_delay
from .exceptions import StoreUnavailable
from .stores import Claim, RunOutcome

if TYPE_CHECKING:
    from ._clock import Clock
    from ._health import StoreHealth
    from ._pool import DaemonPool
    from ._proclazy import LazyProcessPool
    from ._registry import JobRegistry
    from ._report import Reporter
    from .job import Job
    from .stores import Owner, Store

__all__ = ["LiveRun", "Runner"]

RunContextFactory = Callable[["Job"], contextlib.AbstractContextManager[Any]]

#: how often shutdown looks whether the pool went idle (real seconds)
IDLE_POLL = 0.005
#: after killing the worker processes, how long shutdown waits for their runs to be
#: recorded (real seconds)
PROCESS_RECORD_WAIT = 5.0


class Runner:
    def __init__(
        self,
        *,
        store: Store,
        owner: Owner,
        lease_seconds: float,
        clock: Clock,
        now: Callable[[], datetime],
        registry: JobRegistry,
        health: StoreHealth,
        reporter: Reporter,
        pool: DaemonPool,
        run_context: RunContextFactory | None,
        processes: LazyProcessPool,
        wake_heartbeat: Callable[[], None],
        new_context: Callable[..., context.RunContext] = context.RunContext,
    ) -> None:
        self._store = store
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._clock = clock
        self._now = now
        self._registry = registry
        self._health = health
        self._reporter = reporter
        self._pool = pool
        self._run_context = run_context
        self._processes = processes
        # builds each run's RunContext (the facade binds ``scheduler=`` to it, the public
        # object a job may see; the runner itself never reads it)
        self._new_context = new_context
        self._wake_heartbeat = wake_heartbeat
        self._claimer = FireClaimer(
            store=store,
            owner=owner,
            lease_seconds=lease_seconds,
            now=now,
            registry=registry,
            health=health,
            reporter=reporter,
        )
        self.accepting = False  # Invariant: rebound by start() and shutdown only
        self._lock = threading.Lock()
        self._live: dict[str, LiveRun] = {}  # Invariant: under _lock
        # a plain lock, not a Condition: it is taken twice per fire by every worker, and
        # the few waiters (shutdown, scheduler.testing) poll instead of being notified
        self._count_lock = threading.Lock()
        self._inflight = 0  # Invariant: under _count_lock

    # -- what shutdown, the heartbeat and scheduler.testing ask ----------------------------
    def stop_accepting(self) -> None:
        """Fires that have not started yet are not run (shutdown has begun)."""
        self.accepting = False

    def live_runs(self) -> list[LiveRun]:
        """The runs holding a lease now (a snapshot)."""
        with self._lock:
            return list(self._live.values())

    def cancel_all(self) -> None:
        """Set the ``cancel_event`` of every run, scheduled or manual."""
        with self._lock:
            runs = list(self._live.values())
        for run in runs:
            run.cancel()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` real seconds for every fire to finish; True if they did.

        Real time, not the scheduler's clock: this waits for threads, and a virtual clock's
        monotonic time stands still, so its deadline would never come.
        """
        deadline = time.monotonic() + timeout
        while self._inflight > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, IDLE_POLL))
        return True

    @property
    def inflight(self) -> int:
        """Fires handed to the pool and not finished yet."""
        return self._inflight

    def pending(self, *, count_running: bool = True) -> int:
        """Fires not finished; without ``count_running``, those whose job is executing
        are left out (only those waiting in the queue or being claimed count)."""
        if count_running:
            return self._inflight
        with self._lock:
            running = len(self._live)
        return self._inflight - running

    def still_running(self) -> list[str]:
        """Ids of the jobs with a run under way, sorted."""
        with self._lock:
            return sorted({run.job.id for run in self._live.values()})

    def release_timed_out(self) -> None:
        """At shutdown: record the runs that timed out (their outcome is known), freeing
        their slots for the next start."""
        with self._lock:
            timed_out = [run for run in self._live.values() if run.timed_out]
            for run in timed_out:
                run.finishing = True  # a renewal crossing this finish is not a lost lease
        for run in timed_out:
            with contextlib.suppress(Exception):
                self._store.finish(
                    run.claim,
                    outcome=RunOutcome.TIMED_OUT,
                    attempt=run.attempt,
                    error="timed out; still running when the scheduler shut down",
                    cancel_requested=True,
                )

    def is_finishing(self, run: LiveRun) -> bool:
        """The run's outcome is being written (the heartbeat asks before fencing it)."""
        with self._lock:
            return run.finishing

    def stop_processes(self) -> None:
        """Shutdown's timeout has passed: kill the worker processes still running jobs
        (nothing outlives shutdown), then give their pool threads a moment to record those
        runs."""
        if not self._processes.started:
            return
        self._processes.close()
        deadline = time.monotonic() + PROCESS_RECORD_WAIT
        while time.monotonic() < deadline:
            with self._lock:
                jobs = [run.job for run in self._live.values()]
            if not any(job.options.executor == "process" for job in jobs):
                return
            time.sleep(IDLE_POLL)

    # -- the ticker's side -----------------------------------------------------------------
    def submit(
        self, job: Job, fire: datetime, coalesced: int, first: datetime | None = None
    ) -> None:
        """Hand a due fire to the pool. ``first`` is the earliest of the fires coalesced
        into it (where it goes back to wait if the store is down, so none is lost)."""
        self._begin()
        # Emitted before the pool has it: once submitted, a worker may emit JobStarted (and
        # finish) before this thread gets to run again, and listeners must see them in order.
        self._reporter.submitted(job, fire)
        try:
            self._pool.run(self._run_fire, job, fire, coalesced, first or fire)
        except RuntimeError:  # the pool shut down under us (the fire stays unrecorded)
            self._done()

    def submit_claim(
        self, job: Job, claim: Claim, *, done: Callable[[LiveRun | None], None] | None = None
    ) -> None:
        """Run an already claimed fire (the retry of a lost run, a requested run) on the
        pool; then ``done(run)`` (None if it could not run), whatever happened."""

        def go() -> None:
            run = None
            try:
                run = self.execute(job, claim)
            except BaseException:
                self._reporter.internal_error(job.id)
            finally:
                self._done()
                if done is not None:
                    with contextlib.suppress(BaseException):
                        done(run)

        self._begin()
        try:
            self._pool.run(go)
        except RuntimeError:
            self._done()
            if done is not None:
                done(None)

    def call_now(self, job: Job, ctx: context.RunContext) -> Any:
        """Call the job on this thread as the pool would; return its value or raise."""
        ok, value, exc = self._call(job, ctx)
        if not ok:
            assert exc is not None
            raise exc
        return value

    def _begin(self) -> None:
        with self._count_lock:
            self._inflight += 1

    def _done(self) -> None:
        with self._count_lock:
            self._inflight -= 1

    # -- the pool thread's side ------------------------------------------------------------
    def _run_fire(self, job: Job, fire: datetime, coalesced: int, first: datetime) -> None:
        try:
            self._fire(job, fire, coalesced, first)
        except BaseException:  # a bug of ours must not kill the worker or lose the job
            self._reporter.internal_error(job.id)
        finally:
            self._done()

    def _fire(self, job: Job, fire: datetime, coalesced: int, first: datetime) -> None:
        if not self._registry.is_current(job):
            return  # removed or paused after the fire was dispatched: it is not a fire now
        if not self.accepting:
            self._claimer.refuse_at_shutdown(job, fire)
            return
        settled = self._claimer.claim(job, fire, coalesced, first)
        if settled is not None:
            claim, coalesced = settled
            self.execute(job, claim, coalesced=coalesced)

    def execute(self, job: Job, claim: Claim, *, coalesced: int = 0) -> LiveRun:
        """Run a claimed fire to its recorded outcome (attempts, retries, timeout)."""
        timeout = job.options.timeout
        now = self._clock.monotonic()
        run = LiveRun(  # its context is built if the job (or a canceller) asks for it
            job=job,
            claim=claim,
            new_context=self._new_context,
            deadline=now + timeout if timeout else None,
            lease_until=now + self._lease_seconds,
        )
        with self._lock:
            self._live[claim.run_id or ""] = run
        if timeout:
            self._wake_heartbeat()  # it may have to wake before its next beat
        try:
            self._attempts(run, coalesced)
        finally:
            with self._lock:
                # The retry of a lost run keeps its run id: a lost attempt that returns late
                # must not take the retry's entry (its lease would no longer be renewed).
                if self._live.get(claim.run_id or "") is run:
                    del self._live[claim.run_id or ""]
        return run

    def _attempts(self, run: LiveRun, coalesced: int) -> None:
        job, claim = run.job, run.claim
        fire = claim.fire.scheduled_time
        report = self._reporter
        attempt = claim.attempt
        while True:
            try:
                if not self._store.mark_started(claim, attempt=attempt):
                    report.fenced_late(job, fire, attempt, "its lease was lost before it started")
                    return
            except StoreUnavailable:
                pass  # the lease still protects the run; the outcome is written later
            run.attempt = attempt
            report.run_started(job, fire, attempt, coalesced)
            began = time.monotonic()
            ok, value, exc = run.last = self._call(job, run)
            duration = time.monotonic() - began
            with self._lock:
                job.run_count += 1
            # a worker process we had to kill
            killed = exc is not None and bool(getattr(exc, "killed", False))
            if run.timed_out:
                self._finish(
                    run,
                    RunOutcome.TIMED_OUT,
                    attempt,
                    error=f"timed out after {format_duration(job.options.timeout or 0.0)}; "
                    + (str(exc) if killed else f"returned after {format_duration(duration)}"),
                    killed=killed,
                )
                return
            if ok:
                if job._failing is not None:
                    self._recovered(job, fire, attempt)
                result = None if value is None else short_repr(value)
                cancelled = run.cancelled
                report.succeeded(job, fire, attempt, duration, result, cancelled)
                self._finish(run, RunOutcome.SUCCEEDED, attempt, result=result)
                report.succeeded_event(job, fire, attempt, duration, result)
                return
            assert exc is not None
            error = report.failed(job, fire, attempt, duration, exc, self._failures(job, exc))
            if attempt <= job.options.retries and not run.cancelled:
                delay = job_retry_delay(attempt)
                report.retrying(job, fire, attempt, delay, error)
                if not self._clock.sleep(delay, run.ctx.cancel_event):
                    attempt += 1
                    continue
                error += " (retry cancelled by shutdown)"
            self._finish(run, RunOutcome.FAILED, attempt, error=history_error(error, exc),
                         killed=killed)
            report.failed_event(job, fire, attempt, duration, error, exc)
            return

    def _failures(self, job: Job, exc: BaseException) -> tuple[int, bool]:
        """Count a failure: ``(failures in a row, whether its traceback is worth logging)``
        (the first, or a new kind of error)."""
        kind = type(exc).__name__
        with self._lock:
            count, last = job._failing or (0, "")
            job._failing = (count + 1, kind)
        return count + 1, count == 0 or kind != last

    def _recovered(self, job: Job, fire: datetime, attempt: int) -> None:
        if job._failing is None:
            return
        with self._lock:
            streak, job._failing = job._failing, None
        if streak is not None:
            self._reporter.recovered(job, fire, attempt, streak[0])

    def _call(
        self, job: Job, run: context.RunContext | LiveRun
    ) -> tuple[bool, Any, BaseException | None]:
        if job.options.executor == "process":
            ctx = run.ctx if isinstance(run, LiveRun) else run
            return self._processes.get().call(job, ctx)
        wrap = self._run_context
        context._set(run)  # a LiveRun builds its context if current_job() asks
        try:
            if wrap is None:
                return True, job.func(*job.args, **job.kwargs), None
            with wrap(job):
                return True, job.func(*job.args, **job.kwargs), None
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, GeneratorExit too
            return False, None, exc
        finally:
            context._set(None)

    def _finish(
        self,
        run: LiveRun,
        outcome: RunOutcome,
        attempt: int,
        *,
        error: str | None = None,
        result: str | None = None,
        killed: bool = False,
    ) -> None:
        """Write the outcome; through a short outage, try again before giving up (the lease
        then expires and a peer records the run as lost, which is the truth we can offer)."""
        fire = run.claim.fire.scheduled_time
        with self._lock:
            run.finishing = True
        for delay in FINISH_RETRY_DELAYS:
            if delay:
                time.sleep(delay)
            try:
                if not self._store.finish(
                    run.claim,
                    outcome=outcome,
                    attempt=attempt,
                    error=error,
                    result=result,
                    cancel_requested=run.cancelled,
                    killed=killed,
                ):
                    why = f"its outcome ({outcome}) came after the lease was lost"
                    self._reporter.fenced_late(run.job, fire, run.attempt, why)
                else:
                    self._registry.after_run(run.job)
                return
            except StoreUnavailable as exc:
                self._health.failed(exc)
        self._reporter.outcome_unrecorded(run.job, fire, attempt, str(outcome))

    # -- called by the heartbeat -----------------------------------------------------------
    def time_out(self, run: LiveRun) -> None:
        run.timed_out = True
        run.cancel()
        self._reporter.timed_out(run.job, run.claim.fire.scheduled_time, run.attempt)
