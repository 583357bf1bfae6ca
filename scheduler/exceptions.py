"""Every error the library raises on purpose.

One tree, so ``except SchedulerError`` catches all of them::

    SchedulerError
    ├── ConfigurationError (ValueError)       bad argument, option or setting
    │   ├── InvalidCronExpression             names the field and token at fault
    │   ├── InvalidTimezone
    │   ├── InvalidTrigger                    zero interval, naive datetime, Once in the past, ...
    │   ├── InvalidJob                        not callable, lambda, non-JSON arguments, bad option
    │   └── InvalidStoreURL                   unknown scheme, malformed URL
    ├── DuplicateJobId (ValueError)
    ├── JobNotFound (LookupError)
    ├── SchedulerNotRunning (RuntimeError)
    ├── SchedulerAlreadyRunning (RuntimeError)
    ├── ProcessDied (RuntimeError)             a job's worker process died or was killed
    └── StoreError
        ├── StoreUnavailable                  the store cannot be reached (raised at start())
        └── StoreDataError                    the store refused a value: not an outage

Errors are raised at the call that caused them (construction, ``add_job``, settings
load, ``start()``). Inside the background threads nothing is raised: failures are
logged, recorded in the run history and turned into events.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConfigurationError",
    "DuplicateJobId",
    "InvalidCronExpression",
    "InvalidJob",
    "InvalidStoreURL",
    "InvalidTimezone",
    "InvalidTrigger",
    "JobNotFound",
    "ProcessDied",
    "SchedulerAlreadyRunning",
    "SchedulerError",
    "SchedulerNotRunning",
    "StoreDataError",
    "StoreError",
    "StoreUnavailable",
    "unknown_name_message",
]


def unknown_name_message(kind: str, name: str, valid: Iterable[str]) -> str:
    """``unknown option 'max_instance'; did you mean 'max_instances'?`` (click's habit)."""
    valid = sorted(valid)
    import difflib  # only on this error path

    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(valid)}"
    return f"unknown {kind} {name!r}{hint}"


class SchedulerError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(SchedulerError, ValueError):
    """A bad argument, option or setting; raised where it was given."""


class InvalidCronExpression(ConfigurationError):
    """A cron expression that cannot be parsed, or that can never fire.

    :ivar expression: the expression as given
    :ivar field: the field at fault (``"minute"``, ``"day of week"``, ...) or None
    :ivar token: the token at fault, or None
    :ivar reason: what is wrong with it
    """

    def __init__(
        self, expression: str, reason: str, *, field: str | None = None, token: str | None = None
    ) -> None:
        self.expression = expression
        self.field = field
        self.token = token
        self.reason = reason
        where = ""
        if field is not None:
            where = f" in the {field} field"
            if token is not None:
                where = f": {token!r}{where}"
        super().__init__(f"invalid cron expression {expression!r}{where}: {reason}")


class InvalidTimezone(ConfigurationError):
    """A time zone name or object that cannot be used.

    :ivar value: what was given
    """

    def __init__(self, value: object, reason: str | None = None) -> None:
        self.value = value
        reason = reason or "not a known IANA time zone name (e.g. 'Europe/Bratislava', 'UTC')"
        super().__init__(f"invalid time zone {value!r}: {reason}")


class InvalidTrigger(ConfigurationError):
    """A trigger that cannot be built: zero interval, naive datetime, Once in the past..."""


class InvalidJob(ConfigurationError):
    """A job that cannot be scheduled: not callable, not importable, non-JSON args, bad option.

    :ivar job_id: the job's id when known
    """

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message if job_id is None else f"job {job_id!r}: {message}")


class InvalidStoreURL(ConfigurationError):
    """A store URL with an unknown scheme or that cannot be parsed."""


class DuplicateJobId(SchedulerError, ValueError):
    """A job id that is already scheduled (pass ``replace_existing=True`` or another ``id``)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"a job with id {job_id!r} is already scheduled; pass id='...' to schedule the same "
            f"function again, or replace_existing=True to replace it"
        )


class JobNotFound(SchedulerError, LookupError):
    """No job has this id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id!r}")

    def __str__(self) -> str:  # LookupError would quote the whole message otherwise
        return str(self.args[0])


class SchedulerNotRunning(SchedulerError, RuntimeError):
    """The call needs a started scheduler."""


class SchedulerAlreadyRunning(SchedulerError, RuntimeError):
    """``start()`` on a scheduler that is running or was shut down."""


class ProcessDied(SchedulerError, RuntimeError):
    """The worker process running a job (``executor="process"``) ended without an answer.

    It is what a run's error names (``ProcessDied: ... killed by signal SIGSEGV (11)``) and
    what :meth:`~scheduler.Scheduler.run_job`'s future raises; it is never raised from a
    scheduler call.

    :ivar killed: True when the scheduler killed it (timeout, shutdown), False when it died
        on its own (crash, ``os._exit``, the kernel's OOM killer)
    :ivar exitcode: the process's exit code, or minus the signal number that ended it
    """

    def __init__(self, message: str, *, killed: bool = False, exitcode: int | None = None) -> None:
        self.killed = killed
        self.exitcode = exitcode
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_process_died, (str(self), self.killed, self.exitcode))


def _process_died(message: str, killed: bool, exitcode: int | None) -> ProcessDied:
    return ProcessDied(message, killed=killed, exitcode=exitcode)


class StoreError(SchedulerError):
    """The store failed in a way the caller must know about."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; raised by ``start()``, handled as an outage afterwards."""


class StoreDataError(StoreError):
    """The store answered, but refused what it was given: a value too long for its index, a
    NUL byte, a broken constraint, a record it cannot read. Not an outage: retrying the same
    call fails the same way, so the scheduler never reports it as ``StoreUnavailable``."""
