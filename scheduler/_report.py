"""Reporting: every log line the core writes, its ``extra`` fields, and its event.

One method per thing that happens. Each writes a human sentence (%-style arguments) to the
``scheduler`` logger or a child (``scheduler.ticker``, ``scheduler.heartbeat``), puts the same
facts in ``extra``, and emits the matching :mod:`scheduler.events` event when a listener
wants one. Call sites say *what* happened; the wording lives here. The messages about one
fire (submitted, started, succeeded, failed, retried, missed, ...) are in
:mod:`scheduler._report_runs`, mixed into :class:`Reporter`.

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
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ._dispatch import Dispatcher
from ._log import format_duration, safe_log
from ._report_runs import RunReports, fire_extra, short_repr

if TYPE_CHECKING:
    from .job import Job
    from .stores import Owner, RunRecord, StoredJob

__all__ = ["Reporter", "fire_extra", "short_repr"]

log = logging.getLogger("scheduler")
ticker_log = logging.getLogger("scheduler.ticker")
heartbeat_log = logging.getLogger("scheduler.heartbeat")

class Reporter(RunReports):
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

    # -- the scheduler's life ------------------------------------------------------------
    def started(self, owner: Owner, jobs: int, store: object, zone: str, workers: int) -> None:
        """``store``: the store object, described here (its password masked)."""
        from .stores._url import describe_store  # start() only: `import scheduler` stays light

        store = describe_store(store)
        safe_log(
            log,
            logging.INFO,
            "scheduler started: instance %s, %d jobs, store %s, zone %s, %d workers",
            owner,
            jobs,
            store,
            zone,
            workers,
            extra={
                "instance": str(owner),
                "jobs": jobs,
                "store": store,
                "timezone": zone,
                "workers": workers,
            },
        )
        self._emit("SchedulerStarted")

    def left_behind(self, still: Sequence[str], timeout: float) -> None:
        safe_log(
            log,
            logging.WARNING,
            "shutdown: %d jobs still running after %s and left behind (they ignore "
            "cancel_event): %s; their leases expire and a peer records them as lost",
            len(still),
            format_duration(timeout),
            ", ".join(still),
            extra={"still_running": list(still)},
        )

    def shut_down(self, clean: bool, still: Sequence[str]) -> None:
        safe_log(log, logging.INFO, "scheduler shut down (%s)", "clean" if clean else "timed out")
        self._emit("SchedulerShutdown", clean=clean, still_running=tuple(still))

    def not_starting(self, why: str) -> None:
        level = logging.DEBUG if "worker" in why else logging.WARNING
        safe_log(log, level, "not starting the scheduler: %s", why)

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

    def unloadable(self, job_id: str, ref: str, error: BaseException) -> None:
        safe_log(
            log,
            logging.ERROR,
            "stored job %s (function %s) cannot be loaded: %s; it is kept in the "
            "store, marked broken, and not run",
            job_id,
            ref,
            error,
            extra={"job_id": job_id, "func_ref": ref, "error": str(error)},
        )

    def unreadable_rows(self, error: BaseException) -> None:
        safe_log(
            log,
            logging.ERROR,
            "the store holds a job row that cannot be read (%s: %s); jobs added at "
            "run time are not loaded until it is fixed or removed",
            type(error).__name__,
            error,
            extra={"error": str(error)},
        )

    def preview_unavailable(self, error: BaseException) -> None:
        safe_log(
            log,
            logging.WARNING,
            "store unavailable before start (%s): listing without its dynamic jobs and "
            "last fires",
            error,
            extra={"error": str(error)},
        )

    def reregistered(self, job_id: str) -> None:
        safe_log(
            log,
            logging.WARNING,
            "job %s was missing from the store (data lost?); registered it again",
            job_id,
            extra={"job_id": job_id},
        )

    def data_lost(self, registered: list[str], dynamic: int, gone: list[tuple[str, str]]) -> None:
        safe_log(
            log,
            logging.WARNING,
            "the store lost its data; registered this instance's %d jobs again (%d added at "
            "run time); fires resume on the interval grid the store now keeps",
            len(registered),
            dynamic,
            extra={"jobs": registered},
        )
        for job_id, error in gone:
            safe_log(
                log,
                logging.ERROR,
                "job %s was lost with the store's data and could not be registered again "
                "(%s): it is gone from the store and does not run",
                job_id,
                error,
                extra={"job_id": job_id, "error": error},
            )

    def dropped(self, job_id: str) -> None:
        safe_log(
            log,
            logging.INFO,
            "job %s is no longer in the store (removed by another instance); dropped here",
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

    # -- control (pause, requested runs: scheduler._control) ----------------------------
    def paused(self, job_id: str, paused: bool, *, by_store: bool) -> None:
        """A job paused or resumed here, by this process's call or by the store's flag."""
        how = "by another process (the store's flag)" if by_store else "for every instance"
        state = "paused" if paused else "resumed"
        facts = {"job_id": job_id, "paused": paused}
        safe_log(log, logging.INFO, "job %s %s %s", job_id, state, how, extra=facts)

    def run_requested(self, job_id: str, run_id: str, requested_by: str | None) -> None:
        facts = {"job_id": job_id, "run_id": run_id, "requested_by": requested_by}
        who = requested_by or "an unnamed caller"
        msg = "run %s of job %s requested by %s"
        safe_log(log, logging.INFO, msg, run_id, job_id, who, extra=facts)

    def request_skipped(self, job_id: str, run_id: str, reason: str) -> None:
        facts = {"job_id": job_id, "run_id": run_id, "outcome": "skipped", "error": reason}
        msg = "requested run %s of job %s recorded as skipped: %s"
        safe_log(log, logging.WARNING, msg, run_id, job_id, reason, extra=facts)

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
            "store available again after %s; %d waiting jobs resume by the catch-up rules",
            format_duration(seconds),
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
