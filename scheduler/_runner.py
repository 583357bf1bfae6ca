"""One fire in a pool thread: misfire check, claim, lease, call, retries, outcome.

Threads and state
-----------------
* The ticker calls :meth:`Runner.submit`; everything else here runs on a pool thread.
* A run that holds a lease is a :class:`LiveRun` in ``Runner.live`` (guarded by
  ``Runner._lock``); the heartbeat thread renews those leases, sets ``cancel_event`` at a
  run's deadline and when its lease is lost. Only the pool thread that owns a LiveRun
  records its outcome.
* The runner is the only place that calls user code, and it always finishes by recording
  an outcome: a fire is run, or recorded as skipped or missed, or (when the store is down
  and nothing can be recorded) handed back to wait for the store, to be judged by the
  catch-up rules when it returns. Nothing a job does, ``SystemExit`` included, gets out.
"""

from __future__ import annotations

import contextlib
import logging
import reprlib
import threading
import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import context
from ._claiming import claim_fire
from ._log import format_duration, safe_log
from ._ticker import jitter_offset
from ._tz import tz_name
from .exceptions import StoreDataError, StoreUnavailable
from .stores import Claim, ClaimStatus, FireKey, RunOutcome

if TYPE_CHECKING:
    from .job import Job
    from .scheduler import Scheduler

__all__ = ["LiveRun", "Runner"]

log = logging.getLogger("scheduler")

_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 120


def short_repr(value: object) -> str | None:
    if value is None:
        return None
    try:
        return _repr.repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def backoff(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: 1, 2, 4, ... capped at 5 minutes."""
    return float(min(2 ** (attempt - 1), 300))


@dataclass(eq=False)
class LiveRun:
    job: Job
    claim: Claim
    ctx: context.RunContext
    deadline: float | None  #: monotonic time of the timeout, or None
    lease_until: float  #: monotonic estimate of the lease's expiry (self-fencing)
    timed_out: bool = False
    fenced: bool = False
    #: its outcome is being written (set under Runner._lock): a renewal that finds the lease
    #: gone was overtaken by that write, and the write itself says whether it landed
    finishing: bool = False
    started: float = field(default_factory=time.monotonic)


class Runner:
    def __init__(self, scheduler: Scheduler) -> None:
        self._sched = scheduler
        self._lock = threading.Lock()
        self.live: dict[str, LiveRun] = {}
        #: runs started by Scheduler.run_job (not claimed; shutdown still cancels and waits)
        self.manual: dict[int, context.RunContext] = {}
        self._warned_superseded: set[str] = set()
        # fires handed to the pool and not finished yet (scheduler.testing's settle() waits
        # for this to reach zero)
        self.inflight = 0
        # a plain lock, not a Condition: it is taken twice per fire by every worker, and
        # the few waiters (shutdown, scheduler.testing) poll instead of being notified
        self._count_lock = threading.Lock()

    # -- the ticker's side -----------------------------------------------------------------
    def submit(
        self, job: Job, fire: datetime, coalesced: int, first: datetime | None = None
    ) -> None:
        """Hand a due fire to the pool. ``first`` is the earliest of the fires coalesced
        into it (where it goes back to wait if the store is down, so none is lost)."""
        sched = self._sched
        self._begin()
        # Emitted before the pool has it: once submitted, a worker may emit JobStarted (and
        # finish) before this thread gets to run again, and listeners must see them in order.
        if sched._events:
            sched._events.emit(
                "JobSubmitted", timestamp=sched._now(), job_id=job.id, scheduled_time=fire
            )
        try:
            sched._pool.run(self._run_fire, job, fire, coalesced, first or fire)
        except RuntimeError:  # the pool shut down under us (the fire stays unrecorded)
            self._done()

    def submit_claim(self, job: Job, claim: Claim) -> None:
        """Run an already claimed fire (the retry of a lost run) on the pool."""

        def go() -> None:
            try:
                self.execute(job, claim)
            except BaseException:
                safe_log(log, logging.ERROR, "internal error running job %s", job.id, exc_info=True)
            finally:
                self._done()

        self._begin()
        try:
            self._sched._pool.run(go)
        except RuntimeError:
            self._done()

    def manual_context(self, job: Job) -> context.RunContext:
        """The context of a run outside the schedule (run_job, call_job): scheduled now."""
        now = self._sched._now()
        return context.RunContext(
            job_id=job.id, scheduled_time=now.astimezone(job.timezone), attempt=1,
            scheduler=self._sched,
        )

    def call_now(self, job: Job, ctx: context.RunContext) -> Any:
        """Call the job on this thread as the pool would; return its value or raise."""
        ok, value, exc = self._call(job, ctx)
        if not ok:
            assert exc is not None
            raise exc
        return value

    def submit_manual(self, job: Job) -> Future[Any]:
        """Run ``job`` now, outside its schedule, for Scheduler.run_job."""
        sched = self._sched
        ctx = self.manual_context(job)

        def manual() -> Any:
            try:
                return self.call_now(job, ctx)
            finally:
                with self._lock:
                    self.manual.pop(id(ctx), None)
                self._done()

        with self._lock:
            self.manual[id(ctx)] = ctx
        self._begin()
        try:
            return sched._pool.submit(manual)
        except RuntimeError:
            with self._lock:
                self.manual.pop(id(ctx), None)
            self._done()
            raise

    def _begin(self) -> None:
        with self._count_lock:
            self.inflight += 1

    def _done(self) -> None:
        with self._count_lock:
            self.inflight -= 1

    # -- the pool thread's side ------------------------------------------------------------
    def _run_fire(self, job: Job, fire: datetime, coalesced: int, first: datetime) -> None:
        try:
            self._fire(job, fire, coalesced, first)
        except BaseException:  # a bug of ours must not kill the worker or lose the job
            safe_log(log, logging.ERROR, "internal error running job %s", job.id, exc_info=True)
        finally:
            self._done()

    def _fire(self, job: Job, fire: datetime, coalesced: int, first: datetime) -> None:
        sched = self._sched
        job._queued = False
        if not sched._is_current(job):
            return  # removed or paused after the fire was dispatched: it is not a fire now
        if not sched._accepting:
            self._refused_at_shutdown(job, fire)
            return
        key = FireKey(job.id, fire)
        jitter = job.options.jitter
        start_at = fire + jitter_offset(job.id, fire, jitter) if jitter else fire
        late = (sched._now() - start_at).total_seconds()
        grace = job.options.misfire_grace_time
        missed = None
        if grace is not None and late > grace:
            missed = (
                f"started {format_duration(late)} late, past misfire_grace_time ({grace:g} s)"
            )
            if sched._outage_covers(fire):
                missed += " (store_unavailable)"
        try:
            claim, coalesced = claim_fire(sched, job, key, coalesced, first, missed)
        except StoreUnavailable as exc:
            # The job waits for the store from the first fire not yet settled (so the fires
            # folded into this one are judged again, not lost).
            sched._store_failed(job, first, exc)
            return
        except StoreDataError as exc:
            # The store answered and refused this fire's data: not an outage (no probing, no
            # waiting), and retrying would fail the same way. The job goes on.
            safe_log(
                log,
                logging.ERROR,
                "the store refused fire %s of job %s, which is not run: %s",
                fire.isoformat(),
                job.id,
                exc,
                extra={"job_id": job.id, "scheduled_time": fire.isoformat(), "error": str(exc)},
            )
            sched._reschedule_after(job, fire)
            return
        # Only now does the job's next fire go back to the ticker: the claims of one job's
        # fires are made in order, one at a time, so a later fire is never claimed while an
        # earlier one is still waiting for the store (the forward-only claim would then
        # leave the earlier one to nobody). The next fire can still overlap this run.
        sched._reschedule_after(job, fire)
        if sched._outage_since is not None:
            sched._store_ok()
        if claim is None:
            return  # not a fire of the stored grid: the job was placed on that grid
        if missed is not None:
            if claim.status is ClaimStatus.CLAIMED:  # recorded as missed by this call
                self._report("JobMissed", logging.WARNING, "missed", job, fire, reason=missed)
            return
        if claim.status is ClaimStatus.CLAIMED:
            self.execute(job, claim, coalesced=coalesced)
        elif claim.status is ClaimStatus.SKIPPED:
            reason = f"max_instances ({job.options.max_instances}) reached"
            self._report("JobSkipped", logging.WARNING, "skipped", job, fire, reason=reason)
        elif claim.status is ClaimStatus.SUPERSEDED:
            if job.id not in self._warned_superseded:
                self._warned_superseded.add(job.id)
                stored = _stored_summary(sched, job.id)
                safe_log(
                    log,
                    logging.WARNING,
                    "job %s: the store holds another definition (%s); this instance's "
                    "definition lost (the last registered definition runs) and claims "
                    "nothing until it is registered again",
                    job.id,
                    stored,
                    extra={"job_id": job.id, "stored_definition": stored},
                )
        else:
            log.debug("fire %s taken by another instance", key.key)

    def _refused_at_shutdown(self, job: Job, fire: datetime) -> None:
        """A fire that was due but not started when shutdown began. With a shared store a
        peer (or this app's next start, by the catch-up rules) takes it; alone, record it."""
        sched = self._sched
        if sched.store.shared:
            return
        reason = "scheduler shut down before the fire started"
        with contextlib.suppress(Exception):
            if sched.store.claim_missed(
                FireKey(job.id, fire),
                fingerprint=job._fingerprint,
                owner=sched.owner,
                reason=reason,
            ):
                self._report("JobMissed", logging.WARNING, "missed", job, fire, reason=reason)

    def execute(self, job: Job, claim: Claim, *, coalesced: int = 0) -> None:
        """Run a claimed fire to its recorded outcome (attempts, retries, timeout)."""
        sched = self._sched
        clock = sched.clock
        fire = claim.fire.scheduled_time
        ctx = context.RunContext(
            job_id=job.id,
            scheduled_time=fire.astimezone(job.timezone),
            attempt=claim.attempt,
            cancel_event=threading.Event(),
            fencing_token=claim.token,
            run_id=claim.run_id,
            scheduler=sched,
        )
        timeout = job.options.timeout
        now = clock.monotonic()
        run = LiveRun(
            job=job,
            claim=claim,
            ctx=ctx,
            deadline=now + timeout if timeout else None,
            lease_until=now + sched.lease_seconds,
            started=now,
        )
        with self._lock:
            self.live[claim.run_id or ""] = run
        if timeout:
            sched._heartbeat.wake_for_deadline()  # it may have to wake before its next beat
        try:
            self._attempts(run, coalesced)
        finally:
            with self._lock:
                self.live.pop(claim.run_id or "", None)

    def _attempts(self, run: LiveRun, coalesced: int) -> None:
        sched = self._sched
        job, claim = run.job, run.claim
        attempt = claim.attempt
        while True:
            try:
                if not sched.store.mark_started(claim, attempt=attempt):
                    self._fenced(run, "its lease was lost before it started")
                    return
            except StoreUnavailable:
                pass  # the lease still protects the run; the outcome is written later
            if run.ctx.attempt != attempt:
                run.ctx = dc_replace(run.ctx, attempt=attempt)
            # The log facts cost a few microseconds a fire: build them only when logged.
            info = log.isEnabledFor(logging.INFO)
            extra = _extra(job, claim.fire.scheduled_time, attempt) if info else {}
            if info:
                safe_log(
                    log,
                    logging.INFO,
                    "job %s (%s) started: scheduled %s %s, attempt %d%s",
                    job.id,
                    job.name,
                    run.ctx.scheduled_time.isoformat(),
                    tz_name(job.timezone),
                    attempt,
                    f", folding {coalesced} overdue fires" if coalesced else "",
                    extra={**extra, "coalesced": coalesced},
                )
            if sched._events:
                sched._events.emit(
                    "JobStarted",
                    timestamp=sched._now(),
                    job_id=job.id,
                    scheduled_time=claim.fire.scheduled_time,
                    attempt=attempt,
                )
            began = time.monotonic()
            ok, value, exc = self._call(job, run.ctx)
            duration = time.monotonic() - began
            job.run_count += 1
            killed = bool(getattr(exc, "killed", False))  # a worker process we had to kill
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
                    self._log_recovery(job, claim.fire.scheduled_time, attempt)
                result = short_repr(value)
                if info:
                    cancelled = run.ctx.cancel_event.is_set()
                    safe_log(
                        log,
                        logging.INFO,
                        "job %s succeeded in %s%s: %s",
                        job.id,
                        format_duration(duration),
                        " (it returned after its cancellation was requested)"
                        if cancelled
                        else "",
                        result,
                        extra={
                            **extra,
                            "outcome": "succeeded",
                            "duration": duration,
                            "result": result,
                            "cancel_requested": cancelled,
                        },
                    )
                self._finish(run, RunOutcome.SUCCEEDED, attempt, result=result)
                if sched._events:
                    sched._events.emit(
                        "JobSucceeded",
                        timestamp=sched._now(),
                        job_id=job.id,
                        scheduled_time=claim.fire.scheduled_time,
                        attempt=attempt,
                        duration=duration,
                        result=result,
                    )
                return
            assert exc is not None
            if not extra:
                extra = _extra(job, claim.fire.scheduled_time, attempt)
            error = f"{type(exc).__name__}: {exc}"
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self._log_failure(job, exc, error, duration, attempt, extra)
            if attempt <= job.options.retries and not run.ctx.cancel_event.is_set():
                delay = backoff(attempt)
                safe_log(
                    log,
                    logging.INFO,
                    "job %s will retry in %s (attempt %d of %d)",
                    job.id,
                    format_duration(delay),
                    attempt + 1,
                    job.options.retries + 1,
                    extra={**extra, "delay": delay},
                )
                if sched._events:
                    sched._events.emit(
                        "JobRetried",
                        timestamp=sched._now(),
                        job_id=job.id,
                        scheduled_time=claim.fire.scheduled_time,
                        attempt=attempt,
                        delay=delay,
                        error=error,
                    )
                if not sched.clock.sleep(delay, run.ctx.cancel_event):
                    attempt += 1
                    continue
                error += " (retry cancelled by shutdown)"
            self._finish(run, RunOutcome.FAILED, attempt, error=error, killed=killed)
            if sched._events:
                sched._events.emit(
                    "JobFailed",
                    timestamp=sched._now(),
                    job_id=job.id,
                    scheduled_time=claim.fire.scheduled_time,
                    attempt=attempt,
                    duration=duration,
                    error=error,
                    traceback=tb,
                )
            return

    def _log_failure(
        self,
        job: Job,
        exc: BaseException,
        error: str,
        duration: float,
        attempt: int,
        extra: dict[str, Any],
    ) -> None:
        """A job that keeps failing logs its traceback once, then one line per failure with
        the count, until it succeeds again (a job failing every second wrote a traceback a
        second). A new kind of error gets its traceback. Every failure is in the history
        and in ``JobFailed.traceback`` whatever the log shows."""
        kind = type(exc).__name__
        with self._lock:
            count, last = job._failing or (0, "")
            count += 1
            job._failing = (count, kind)
        facts = {**extra, "outcome": "failed", "duration": duration, "error": error}
        facts["failures"] = count
        if count == 1 or kind != last:
            safe_log(
                log,
                logging.ERROR,
                "job %s failed after %s (attempt %d): %s",
                job.id,
                format_duration(duration),
                attempt,
                error,
                exc_info=(type(exc), exc, exc.__traceback__),
                extra=facts,
            )
            return
        safe_log(
            log,
            logging.ERROR,
            "job %s failed again after %s (attempt %d): %s (%d failures in a row; "
            "traceback logged at the first)",
            job.id,
            format_duration(duration),
            attempt,
            error,
            count,
            extra=facts,
        )

    def _log_recovery(self, job: Job, fire: datetime, attempt: int) -> None:
        with self._lock:
            streak, job._failing = job._failing, None
        if streak is None:
            return
        # WARNING, not INFO: whoever watches the failures must see them end
        safe_log(
            log,
            logging.WARNING,
            "job %s succeeded again after %d failures in a row",
            job.id,
            streak[0],
            extra={**_extra(job, fire, attempt), "outcome": "succeeded", "failures": streak[0]},
        )

    def _call(self, job: Job, ctx: context.RunContext) -> tuple[bool, Any, BaseException | None]:
        if job.options.executor == "process":
            return self._sched._process_pool().call(job, ctx)
        wrap = self._sched._run_context
        context._set(ctx)
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
        sched = self._sched
        with self._lock:
            run.finishing = True
        for delay in (0.0, 0.5, 1.0, 2.0, 4.0):
            if delay:
                time.sleep(delay)
            try:
                if not sched.store.finish(
                    run.claim,
                    outcome=outcome,
                    attempt=attempt,
                    error=error,
                    result=result,
                    cancel_requested=run.ctx.cancel_event.is_set(),
                    killed=killed,
                ):
                    self._fenced(run, f"its outcome ({outcome}) came after the lease was lost")
                else:
                    sched._after_run(run.job)
                return
            except StoreUnavailable as exc:
                sched._store_failed(None, None, exc)
        safe_log(
            log,
            logging.ERROR,
            "job %s: could not record outcome %s of the fire at %s: store unavailable",
            run.job.id,
            outcome,
            run.claim.fire.scheduled_time.astimezone(run.job.timezone).isoformat(),
            extra=_extra(run.job, run.claim.fire.scheduled_time, attempt),
        )

    def _fenced(self, run: LiveRun, why: str) -> None:
        safe_log(
            log,
            logging.WARNING,
            "job %s, fire %s: %s; a peer has recorded it as lost",
            run.job.id,
            run.claim.fire.scheduled_time.astimezone(run.job.timezone).isoformat(),
            why,
            extra=_extra(run.job, run.claim.fire.scheduled_time, run.ctx.attempt),
        )

    def _report(
        self, event: str, level: int, what: str, job: Job, fire: datetime, *, reason: str
    ) -> None:
        sched = self._sched
        safe_log(
            log,
            level,
            "job %s %s: fire at %s, %s",
            job.id,
            what,
            fire.astimezone(job.timezone).isoformat(),
            reason,
            extra={**_extra(job, fire, 1), "outcome": what, "reason": reason},
        )
        if sched._events:
            sched._events.emit(
                event, timestamp=sched._now(), job_id=job.id, scheduled_time=fire, reason=reason
            )

    # -- called by the heartbeat -----------------------------------------------------------
    def time_out(self, run: LiveRun) -> None:
        run.timed_out = True
        run.ctx.cancel_event.set()
        job = run.job
        process = job.options.executor == "process"
        safe_log(
            log,
            logging.WARNING,
            "job %s timed out after %s; its cancel_event is set (%s)",
            job.id,
            format_duration(job.options.timeout or 0.0),
            f"its worker process is killed if it has not stopped in "
            f"{format_duration(job.options.timeout_grace)}" if process else "a thread cannot be "
            "killed: the run holds its slot until the function returns",
            extra={
                **_extra(job, run.claim.fire.scheduled_time, run.ctx.attempt),
                "outcome": "timed_out",
            },
        )
        sched = self._sched
        if sched._events:
            sched._events.emit(
                "JobTimedOut",
                timestamp=sched._now(),
                job_id=job.id,
                scheduled_time=run.claim.fire.scheduled_time,
                attempt=run.ctx.attempt,
                timeout=job.options.timeout or 0.0,
            )


def _extra(job: Job, fire: datetime, attempt: int) -> dict[str, Any]:
    """The facts of a fire for structured handlers: ``scheduled_time`` is UTC ISO 8601 (for
    machines; messages show the job's zone), ``timezone`` the job's zone."""
    return {
        "job_id": job.id,
        "job_name": job.name,
        "scheduled_time": fire.isoformat(),
        "timezone": tz_name(job.timezone),
        "attempt": attempt,
    }


def _stored_summary(sched: Scheduler, job_id: str) -> str:
    try:
        stored = sched.store.get_job(job_id)
    except Exception:
        return "unknown"
    if stored is None:
        return "none: the job was removed from the store"
    d = stored.definition
    return (
        f"{d.func_ref} trigger={d.trigger} args={d.args} kwargs={d.kwargs}, registered by "
        f"{stored.registered_by} at {stored.registered_at.isoformat()}"
    )
