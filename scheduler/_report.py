"""Reporting: every log line the core writes, its ``extra`` fields, and its event.

One method per thing that happens. Each writes a human sentence (%-style arguments) to the
``scheduler`` logger or a child (``scheduler.ticker``, ``scheduler.heartbeat``), puts the same
facts in ``extra``, and emits the matching :mod:`scheduler.events` event when a listener
wants one. Call sites say *what* happened; the wording lives here.

Threads and state
-----------------
* Called from every thread (the caller of ``add_job``, the ticker, pool threads, the
  heartbeat). A listener runs on the thread that reports, so no caller may hold a lock of the
  job registry while it reports (a listener may wait on another thread that needs it).
* ``events`` (:class:`~scheduler._dispatch.Dispatcher`) owns its own lock.
* ``_superseded`` (job ids whose lost definition was already reported) is only touched by
  single ``set`` operations, atomic under the GIL; a duplicate warning in a race is harmless.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._dispatch import Dispatcher
from ._log import safe_log
from ._tz import tz_name

if TYPE_CHECKING:
    from .job import Job
    from .stores import Owner, RunRecord, StoredJob

__all__ = ["Reporter", "short_repr"]

log = logging.getLogger("scheduler")
ticker_log = logging.getLogger("scheduler.ticker")
heartbeat_log = logging.getLogger("scheduler.heartbeat")

_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 120


def short_repr(value: object) -> str | None:
    """A job's return value as the run history keeps it: at most about 120 characters."""
    if value is None:
        return None
    try:
        return _repr.repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def fire_extra(job: Job, fire: datetime, attempt: int) -> dict[str, Any]:
    """The facts of one fire, for structured handlers."""
    return {
        "job_id": job.id,
        "job_name": job.name,
        "scheduled_time": fire.isoformat(),
        "timezone": tz_name(job.timezone),
        "attempt": attempt,
    }


class Reporter:
    """Logs and events of one scheduler.

    :param now: the scheduler's ``now`` (store time), stamped on every event
    """

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now  # Invariant: set by the facade while it builds the pieces
        self.events = Dispatcher()
        self._superseded: set[str] = set()

    def after_fork(self) -> None:
        """In a forked child: the listeners stay; their lock is new."""
        self.events.after_fork()

    def _emit(self, kind: str, **fields: Any) -> None:
        if self.events:
            self.events.emit(kind, timestamp=self.now(), **fields)

    # -- the scheduler's life ------------------------------------------------------------
    def started(self, jobs: int, store: str, zone: str, workers: int) -> None:
        safe_log(
            log,
            logging.INFO,
            "scheduler started: %d jobs, store %s, zone %s, %d workers",
            jobs,
            store,
            zone,
            workers,
            extra={"jobs": jobs, "store": store},
        )
        self._emit("SchedulerStarted")

    def left_behind(self, still: Sequence[str], timeout: float) -> None:
        safe_log(
            log,
            logging.WARNING,
            "shutdown: %d jobs still running after %.1fs and left behind (they ignore "
            "cancel_event): %s; their leases expire and a peer records them as lost",
            len(still),
            timeout,
            ", ".join(still),
            extra={"still_running": list(still)},
        )

    def shut_down(self, clean: bool, still: Sequence[str]) -> None:
        safe_log(log, logging.INFO, "scheduler shut down (%s)", "clean" if clean else "timed out")
        self._emit("SchedulerShutdown", clean=clean, still_running=tuple(still))

    def signal(self, name: str) -> None:
        safe_log(log, logging.INFO, "received %s; shutting down", name)

    def forked_with_memory_store(self, pid: int) -> None:
        safe_log(
            log,
            logging.WARNING,
            "process %d was forked from a process running the scheduler with the memory "
            "store; it does not run jobs here (the parent does). Use a shared store "
            "('sqlite:///...') to run it in every worker, each fire once.",
            pid,
        )

    def restart_after_fork_failed(self, pid: int, exc: BaseException) -> None:
        safe_log(
            log,
            logging.ERROR,
            "process %d was forked from a process running the scheduler, and the scheduler "
            "could not start again here (%s: %s); this process runs no jobs until start() "
            "succeeds",
            pid,
            type(exc).__name__,
            exc,
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"pid": pid, "error": f"{type(exc).__name__}: {exc}"},
        )

    # -- the registry --------------------------------------------------------------------
    def job_added(self, job_id: str) -> None:
        self._emit("JobAdded", job_id=job_id)

    def job_removed(self, job_id: str) -> None:
        self._emit("JobRemoved", job_id=job_id)

    def definition_replaced(self, job: Job, replaced: StoredJob, owner: Owner) -> None:
        old = replaced.definition
        here = job.get_definition()
        safe_log(
            log,
            logging.WARNING,
            "job %s is defined differently by another instance: stored %s trigger=%s "
            "args=%s (registered by %s at %s), here %s trigger=%s args=%s (%s); the last "
            "registered definition wins, so this one runs from now on",
            job.id,
            old.func_ref,
            old.trigger,
            old.args,
            replaced.registered_by,
            replaced.registered_at.isoformat(),
            job.func_ref,
            here.trigger,
            here.args,
            owner,
            extra={"job_id": job.id, "replaced_by": str(owner)},
        )

    def registered(self, job_id: str) -> None:
        """The job's definition is the store's again: a later loss is reported again."""
        self._superseded.discard(job_id)

    def unloadable(self, job_id: str, error: BaseException) -> None:
        safe_log(
            log,
            logging.ERROR,
            "stored job %s cannot be loaded (%s); it is kept in the store, marked "
            "broken, and not run",
            job_id,
            error,
            extra={"job_id": job_id, "error": str(error)},
        )

    def reregistered(self, job_id: str) -> None:
        safe_log(
            log,
            logging.WARNING,
            "job %s was missing from the store (data lost?); registered it again",
            job_id,
            extra={"job_id": job_id},
        )

    def superseded(self, job_id: str, stored: str) -> None:
        """This instance's definition lost; said once per job until it registers again."""
        if job_id in self._superseded:
            return
        self._superseded.add(job_id)
        safe_log(
            log,
            logging.WARNING,
            "job %s: the store holds another definition (%s); this instance's "
            "definition lost (the last registered definition runs) and claims "
            "nothing until it is registered again",
            job_id,
            stored,
            extra={"job_id": job_id, "stored_definition": stored},
        )

    # -- the store's health --------------------------------------------------------------
    def store_unavailable(self, store: str, exc: BaseException, *, flap: bool) -> None:
        safe_log(
            log,
            logging.DEBUG if flap else logging.ERROR,
            "store unavailable: %s; no fire runs until it answers again (probing with "
            "backoff; fires due meanwhile follow the misfire rules)",
            exc,
            extra={"store": store, "error": str(exc)},
        )

    def store_back(self, seconds: float, waiting: int, *, flap: bool) -> None:
        safe_log(
            log,
            logging.DEBUG if flap else logging.WARNING,
            "store available again after %.1fs; %d waiting jobs resume by the catch-up rules",
            seconds,
            waiting,
            extra={"outage_seconds": seconds},
        )

    def probe_failed(self) -> None:
        safe_log(heartbeat_log, logging.ERROR, "store probe failed unexpectedly", exc_info=True)

    def clock_skew(self, skew: float) -> None:
        safe_log(
            heartbeat_log,
            logging.WARNING,
            "this host's clock is %.1fs %s the store's; fires are timed by the store's "
            "clock (fix NTP on this host)",
            abs(skew),
            "ahead of" if skew > 0 else "behind",
            extra={"clock_skew": skew},
        )

    # -- the ticker ----------------------------------------------------------------------
    def ticker_failed(self) -> None:
        safe_log(ticker_log, logging.ERROR, "ticker pass failed; carrying on", exc_info=True)

    def dispatch_failed(self, job_id: str) -> None:
        safe_log(
            ticker_log,
            logging.ERROR,
            "could not dispatch job %s; it is rescheduled",
            job_id,
            exc_info=True,
            extra={"job_id": job_id},
        )

    def trigger_failed(self, job_id: str) -> None:
        safe_log(
            ticker_log,
            logging.ERROR,
            "job %s: its trigger cannot compute the next fire; the job is not "
            "scheduled again (add it again once its trigger is fixed)",
            job_id,
            exc_info=True,
            extra={"job_id": job_id},
        )

    # -- one fire ------------------------------------------------------------------------
    def submitted(self, job: Job, fire: datetime) -> None:
        self._emit("JobSubmitted", job_id=job.id, scheduled_time=fire)

    def internal_error(self, job_id: str) -> None:
        safe_log(log, logging.ERROR, "internal error running job %s", job_id, exc_info=True)

    def not_run(self, event: str, what: str, job: Job, fire: datetime, reason: str) -> None:
        """A fire recorded without a run: ``JobMissed`` or ``JobSkipped``."""
        safe_log(
            log,
            logging.WARNING,
            "job %s %s: fire at %s, %s",
            job.id,
            what,
            fire.astimezone(job.timezone).isoformat(),
            reason,
            extra={**fire_extra(job, fire, 1), "outcome": what, "reason": reason},
        )
        self._emit(event, job_id=job.id, scheduled_time=fire, reason=reason)

    def taken(self, key: str) -> None:
        log.debug("fire %s taken by another instance", key)

    def run_started(
        self, job: Job, fire: datetime, local: datetime, attempt: int, coalesced: int
    ) -> None:
        # The log facts cost a few microseconds a fire: built only when logged.
        if log.isEnabledFor(logging.INFO):
            safe_log(
                log,
                logging.INFO,
                "job %s (%s) started: scheduled %s %s, attempt %d%s",
                job.id,
                job.name,
                local.isoformat(),
                tz_name(job.timezone),
                attempt,
                f", folding {coalesced} overdue fires" if coalesced else "",
                extra={**fire_extra(job, fire, attempt), "coalesced": coalesced},
            )
        self._emit("JobStarted", job_id=job.id, scheduled_time=fire, attempt=attempt)

    def succeeded(
        self, job: Job, fire: datetime, attempt: int, duration: float, result: str | None
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            safe_log(
                log,
                logging.INFO,
                "job %s succeeded in %.3fs: %s",
                job.id,
                duration,
                result,
                extra={
                    **fire_extra(job, fire, attempt),
                    "outcome": "succeeded",
                    "duration": duration,
                    "result": result,
                },
            )

    def succeeded_event(
        self, job: Job, fire: datetime, attempt: int, duration: float, result: str | None
    ) -> None:
        self._emit(
            "JobSucceeded",
            job_id=job.id,
            scheduled_time=fire,
            attempt=attempt,
            duration=duration,
            result=result,
        )

    def failed(
        self, job: Job, fire: datetime, attempt: int, duration: float, exc: BaseException
    ) -> str:
        """Log a failed attempt; returns its error text (``TypeName: message``)."""
        error = f"{type(exc).__name__}: {exc}"
        safe_log(
            log,
            logging.ERROR,
            "job %s failed after %.3fs (attempt %d): %s",
            job.id,
            duration,
            attempt,
            error,
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={
                **fire_extra(job, fire, attempt),
                "outcome": "failed",
                "duration": duration,
                "error": error,
            },
        )
        return error

    def retrying(self, job: Job, fire: datetime, attempt: int, delay: float, error: str) -> None:
        safe_log(
            log,
            logging.INFO,
            "job %s will retry in %.0fs (attempt %d of %d)",
            job.id,
            delay,
            attempt + 1,
            job.options.retries + 1,
            extra={**fire_extra(job, fire, attempt), "delay": delay},
        )
        self._emit(
            "JobRetried",
            job_id=job.id,
            scheduled_time=fire,
            attempt=attempt,
            delay=delay,
            error=error,
        )

    def failed_event(
        self,
        job: Job,
        fire: datetime,
        attempt: int,
        duration: float,
        error: str,
        exc: BaseException,
    ) -> None:
        if self.events:
            import traceback

            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self._emit(
                "JobFailed",
                job_id=job.id,
                scheduled_time=fire,
                attempt=attempt,
                duration=duration,
                error=error,
                traceback=tb,
            )

    def outcome_unrecorded(self, job: Job, fire: datetime, attempt: int, outcome: str) -> None:
        safe_log(
            log,
            logging.ERROR,
            "job %s: could not record outcome %s of the fire at %s: store unavailable",
            job.id,
            outcome,
            fire.isoformat(),
            extra=fire_extra(job, fire, attempt),
        )

    def fenced_late(self, job: Job, fire: datetime, attempt: int, why: str) -> None:
        """A run's outcome or start was refused: its lease was lost to a peer."""
        safe_log(
            log,
            logging.WARNING,
            "job %s, fire %s: %s; a peer has recorded it as lost",
            job.id,
            fire.isoformat(),
            why,
            extra=fire_extra(job, fire, attempt),
        )

    def timed_out(self, job: Job, fire: datetime, attempt: int) -> None:
        safe_log(
            log,
            logging.WARNING,
            "job %s timed out after %gs; its cancel_event is set (a thread cannot be killed: "
            "the run holds its slot until the function returns)",
            job.id,
            job.options.timeout,
            extra={**fire_extra(job, fire, attempt), "outcome": "timed_out"},
        )
        self._emit(
            "JobTimedOut",
            job_id=job.id,
            scheduled_time=fire,
            attempt=attempt,
            timeout=job.options.timeout or 0.0,
        )

    # -- the heartbeat -------------------------------------------------------------------
    def heartbeat_failed(self) -> None:
        safe_log(heartbeat_log, logging.ERROR, "heartbeat pass failed; carrying on", exc_info=True)

    def fenced(self, job: Job, fire: datetime, why: str) -> None:
        """The heartbeat asks a run to stop: its lease is lost or surely expired."""
        safe_log(
            heartbeat_log,
            logging.WARNING,
            "job %s, fire %s: %s; its cancel_event is set and its outcome will not be recorded",
            job.id,
            fire.isoformat(),
            why,
            extra={"job_id": job.id, "scheduled_time": fire},
        )

    def lost(self, run: RunRecord) -> None:
        safe_log(
            heartbeat_log,
            logging.WARNING,
            "job %s: the run of the fire at %s was lost (%s; owner %s)",
            run.job_id,
            run.scheduled_time.isoformat(),
            run.error,
            run.owner,
            extra={
                "job_id": run.job_id,
                "scheduled_time": run.scheduled_time.isoformat(),
                "outcome": "lost",
                "owner": run.owner,
            },
        )
        self._emit(
            "JobLost",
            job_id=run.job_id,
            scheduled_time=run.scheduled_time,
            attempt=run.attempt,
            owner=run.owner,
            reason=run.error or "lease expired",
        )
