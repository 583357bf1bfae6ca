"""Reporting one fire: its log lines, their ``extra`` fields and its events.

The half of :class:`scheduler._report.Reporter` that pool threads call for each fire (the
rest of the reporting lives in :mod:`scheduler._report`). The wording of every message about
a run is here; the runner and the claimer only say what happened.

Threads and state: called on pool threads (and the ticker, for ``JobSubmitted``) at once;
no state besides the reporter's dispatcher, which owns its lock.
"""

from __future__ import annotations

import logging
import reprlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._dispatch import Dispatcher
from ._log import format_duration, safe_log
from ._tz import tz_name

if TYPE_CHECKING:
    from .job import Job

__all__ = ["RunReports", "fire_extra", "history_error", "short_repr"]

log = logging.getLogger("scheduler")

_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 120


#: how much of a failed run's traceback the run history keeps (its last lines)
TRACEBACK_LINES, TRACEBACK_CHARS = 16, 2000


def history_error(error: str, exc: BaseException) -> str:
    """The error text a failed run leaves in the history: ``error`` (``Type: message``) on
    the first line, then the end of the traceback (a worker process's own, for
    ``executor="process"``), at most :data:`TRACEBACK_LINES` lines and about
    :data:`TRACEBACK_CHARS` characters: what the dashboard shows as the excerpt."""
    import traceback

    cause = exc.__cause__
    if type(cause).__name__ == "_RemoteTraceback" and cause is not None and cause.args:
        text = str(cause.args[0])  # _procwire: the worker process's traceback text
    else:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__,
                                                  chain=False))
    lines = text.rstrip().splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = [lines[0], "  ...", *lines[-(TRACEBACK_LINES - 2):]]
    excerpt = "\n".join(lines)
    if len(excerpt) > TRACEBACK_CHARS:
        excerpt = "...\n" + excerpt[-TRACEBACK_CHARS:].split("\n", 1)[-1]
    return f"{error}\n{excerpt}" if excerpt else error


def short_repr(value: object) -> str | None:
    """A job's return value as the run history keeps it: at most about 120 characters."""
    if value is None:
        return None
    try:
        return _repr.repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def fire_extra(job: Job, fire: datetime, attempt: int) -> dict[str, Any]:
    """The facts of a fire for structured handlers: ``scheduled_time`` is UTC ISO 8601 (for
    machines; messages show the job's zone), ``timezone`` the job's zone."""
    return {
        "job_id": job.id,
        "job_name": job.name,
        "scheduled_time": fire.isoformat(),
        "timezone": tz_name(job.timezone),
        "attempt": attempt,
    }


class RunReports:
    """What happens to one fire: submitted, claimed or not, run, retried, finished."""

    events: Dispatcher
    now: Callable[[], datetime]

    def _emit(self, kind: str, **fields: Any) -> None:
        if self.events.listeners:  # (an attribute: this runs a few times per fire)
            self.events.emit(kind, timestamp=self.now(), **fields)

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

    def refused(self, job: Job, fire: datetime, error: BaseException) -> None:
        """The store answered and refused this fire's data (not an outage)."""
        safe_log(
            log,
            logging.ERROR,
            "the store refused fire %s of job %s, which is not run: %s",
            fire.isoformat(),
            job.id,
            error,
            extra={"job_id": job.id, "scheduled_time": fire.isoformat(), "error": str(error)},
        )

    def taken(self, key: str) -> None:
        log.debug("fire %s taken by another instance", key)

    def run_started(self, job: Job, fire: datetime, attempt: int, coalesced: int) -> None:
        # The log facts cost a few microseconds a fire: built only when logged.
        if log.isEnabledFor(logging.INFO):
            local = fire.astimezone(job.timezone)
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
        self,
        job: Job,
        fire: datetime,
        attempt: int,
        duration: float,
        result: str | None,
        cancelled: bool,
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            safe_log(
                log,
                logging.INFO,
                "job %s succeeded in %s%s: %s",
                job.id,
                format_duration(duration),
                " (it returned after its cancellation was requested)" if cancelled else "",
                result,
                extra={
                    **fire_extra(job, fire, attempt),
                    "outcome": "succeeded",
                    "duration": duration,
                    "result": result,
                    "cancel_requested": cancelled,
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
        self,
        job: Job,
        fire: datetime,
        attempt: int,
        duration: float,
        exc: BaseException,
        failures: tuple[int, bool],
    ) -> str:
        """Log a failed attempt; returns its error text (``TypeName: message``).

        ``failures`` is (failures in a row, log the traceback): a job that keeps failing logs
        its traceback once, then one line per failure with the count, until it succeeds
        again; a new kind of error gets its traceback. Every failure is in the history and
        in ``JobFailed.traceback`` whatever the log shows.
        """
        count, with_traceback = failures
        error = f"{type(exc).__name__}: {exc}"
        facts = {
            **fire_extra(job, fire, attempt),
            "outcome": "failed",
            "duration": duration,
            "error": error,
            "failures": count,
        }
        if with_traceback:
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
        else:
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
        return error

    def recovered(self, job: Job, fire: datetime, attempt: int, failures: int) -> None:
        # WARNING, not INFO: whoever watches the failures must see them end
        safe_log(
            log,
            logging.WARNING,
            "job %s succeeded again after %d failures in a row",
            job.id,
            failures,
            extra={**fire_extra(job, fire, attempt), "outcome": "succeeded", "failures": failures},
        )

    def retrying(self, job: Job, fire: datetime, attempt: int, delay: float, error: str) -> None:
        safe_log(
            log,
            logging.INFO,
            "job %s will retry in %s (attempt %d of %d)",
            job.id,
            format_duration(delay),
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
            fire.astimezone(job.timezone).isoformat(),
            extra=fire_extra(job, fire, attempt),
        )

    def fenced_late(self, job: Job, fire: datetime, attempt: int, why: str) -> None:
        """A run's outcome or start was refused: its lease was lost to a peer."""
        safe_log(
            log,
            logging.WARNING,
            "job %s, fire %s: %s; a peer has recorded it as lost",
            job.id,
            fire.astimezone(job.timezone).isoformat(),
            why,
            extra=fire_extra(job, fire, attempt),
        )

    def timed_out(self, job: Job, fire: datetime, attempt: int) -> None:
        if job.options.executor == "process":
            what = (
                f"its worker process is killed if it has not stopped in "
                f"{format_duration(job.options.timeout_grace)}"
            )
        else:
            what = "a thread cannot be killed: the run holds its slot until the function returns"
        safe_log(
            log,
            logging.WARNING,
            "job %s timed out after %s; its cancel_event is set (%s)",
            job.id,
            format_duration(job.options.timeout or 0.0),
            what,
            extra={**fire_extra(job, fire, attempt), "outcome": "timed_out"},
        )
        self._emit(
            "JobTimedOut",
            job_id=job.id,
            scheduled_time=fire,
            attempt=attempt,
            timeout=job.options.timeout or 0.0,
        )
