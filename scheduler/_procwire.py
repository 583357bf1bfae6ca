"""What crosses between the scheduler and a worker process of ``executor="process"``.

* :func:`check_job`: what ``add_job`` checks so that a job can cross (an importable
  function, arguments and a ``run_context`` that pickle), refused with ``InvalidJob``.
* :func:`levels`: the log levels set here, sent with each run so the worker filters alike.
* :func:`answer` and :func:`dispatch`: the worker's reply and log records, turned back
  into a result or exception and handed to this process's loggers.
* :func:`how`: an exit code in words (``killed by signal SIGSEGV (11)``).

No state and no threads here: :mod:`scheduler._procpool` calls these from the pool thread
that waits for a worker; :mod:`scheduler._procchild` is the worker's side of the protocol.
"""

from __future__ import annotations

import inspect
import logging
import pickle
import signal
import sys
from typing import TYPE_CHECKING, Any

from ._log import safe_log
from ._refs import ref_of, stable_ref
from .exceptions import InvalidJob

if TYPE_CHECKING:
    from .job import Job

__all__ = ["answer", "check_job", "dispatch", "how", "levels"]

log = logging.getLogger("scheduler")


def check_job(job: Job, run_context: Any) -> None:
    """What ``add_job`` checks of a job with ``executor="process"``.

    :raises InvalidJob: the function cannot be imported by name (lambda, nested function,
        partial, ``__main__``), an argument does not pickle, or the scheduler's
        ``run_context`` does not pickle
    """
    try:
        _check_importable(job.func)
    except InvalidJob as exc:
        raise InvalidJob(f"executor='process' imports the function by name: {exc}",
                         job_id=job.id) from None  # fmt: skip
    values = [(f"args[{i}]", v) for i, v in enumerate(job.args)]
    values += [(f"kwargs[{k!r}]", v) for k, v in job.kwargs.items()]
    for path, value in values:
        try:
            pickle.dumps(value)
        except Exception as exc:
            raise InvalidJob(
                f"{path} (a {type(value).__name__}) cannot be sent to a worker process: "
                f"{exc}; executor='process' needs arguments that pickle",
                job_id=job.id,
            ) from None
    if run_context is not None:
        try:
            pickle.dumps(run_context)
        except Exception as exc:
            raise InvalidJob(
                f"the scheduler's run_context {run_context!r} cannot be sent to a worker "
                f"process ({exc}); make it a module-level function or a picklable object",
                job_id=job.id,
            ) from None


def _check_importable(func: Any) -> None:
    if inspect.ismethod(func) and not isinstance(func.__self__, type):
        raise InvalidJob(
            f"{stable_ref(func)} is a method bound to an instance, which a worker process "
            f"cannot rebuild; use a module-level function (or a classmethod)"
        )
    module, _, qualname = stable_ref(func).partition(":")
    found: Any = sys.modules.get(module)
    if found is not None and module != "__main__" and "<" not in qualname:
        for part in qualname.split("."):
            found = getattr(found, part, _MISSING)
        if found is _MISSING:  # a decorator (@sched.job) runs before the name is bound
            return
    ref_of(func)


_MISSING = object()


def answer(message: tuple[Any, ...]) -> tuple[bool, Any, BaseException | None]:
    _, _, status, value, text = message
    if status in ("ok", "repr"):
        return True, value, None
    exc = value if status == "error" else RuntimeError(value)
    if text:
        exc.__cause__ = _RemoteTraceback(text)
    return False, None, exc


class _RemoteTraceback(Exception):
    """Carries the worker's traceback text, shown as the cause of the job's exception."""

    def __str__(self) -> str:
        return f"in the worker process:\n{self.args[0]}"


def how(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal"
        return f"was killed by signal {name} ({-code})"
    return f"exited with code {code}"


def levels() -> dict[str, int]:
    """The levels set in this process, for the worker's loggers ("" is the root)."""
    manager = logging.Logger.manager
    levels = {"": logging.getLogger().level}
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


def dispatch(data: dict[str, Any]) -> None:
    """Hand a worker's log record to this process's logger of the same name."""
    try:
        record = logging.makeLogRecord(data)
        logger = logging.getLogger(record.name if record.name != "root" else None)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
    except Exception:
        safe_log(log, logging.ERROR, "a log record from a worker process was dropped",
                 exc_info=True)  # fmt: skip
