"""The ``scheduler`` command line (also ``python -m scheduler``); standard library only.

Commands::

    scheduler run myapp.tasks:sched [--log-level INFO] [--log-format text|json]
    scheduler list myapp.tasks:sched
    scheduler next "30 2 * * *" [--tz Europe/Bratislava] [-n 5] [--after 2026-03-28T00:00]
    scheduler celery-beat proj.celery:app [--store URL]     (extra [celery])
    scheduler dashboard --store URL [--bind 127.0.0.1:8080] [--allow-actions]
    scheduler health myapp.tasks:sched | --store URL [--this-host]   (JSON; exit 0/1)

``run`` and ``list`` take ``module:attr``: ``attr`` (dotted for nested attributes) is a
:class:`~scheduler.Scheduler` or a zero-argument factory that returns one. The current
directory is put first on ``sys.path``, as ``python -m`` does, so ``scheduler run tasks:sched``
works from the project root.

``run`` blocks until SIGTERM or SIGINT, then shuts down gracefully: running jobs are told to
stop (``current_job().cancel_event``) and waited for up to the scheduler's
``shutdown_timeout``.

Exit codes:

* ``0``: clean exit (for ``run``: every running job finished before the shutdown timeout)
* ``1``: ``run`` shut down, but some job was still running when the shutdown timeout expired
  (the process exits anyway; the job is reported in the log); or ``list`` failed at run time
* ``2``: a usage error: bad arguments, a target that cannot be imported or is not a
  scheduler, a bad cron expression or zone
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

from ._listing import format_jobs
from ._logsetup import JSONFormatter, has_level_handler, setup_logging
from ._refs import ModuleMissing, import_here
from .exceptions import ConfigurationError, InvalidCronExpression, SchedulerError

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = [
    "JSONFormatter",
    "format_jobs",
    "has_level_handler",
    "load_target",
    "main",
    "setup_logging",
]

logger = logging.getLogger("scheduler.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with what the user typed; printed without a traceback, exit code 2."""


# -- loading the user's scheduler --------------------------------------------------------------


def load_target(spec: str) -> Scheduler:
    """Import ``module:attr`` and return the Scheduler it names.

    ``attr`` may be dotted (``module:app.scheduler``). When it is not a Scheduler but a
    callable, it is called with no arguments and must return one (an app factory).

    :raises UsageError: malformed spec, import failure, or not a scheduler
    """
    from .scheduler import Scheduler

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(
            f"expected 'module:attribute' (e.g. 'myapp.tasks:scheduler'), got {spec!r}"
        )
    try:
        module = import_here(module_name)  # an error inside the module shows its traceback
    except ModuleMissing as exc:
        raise UsageError(f"cannot import module {exc}") from exc.cause
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if isinstance(obj, Scheduler):
        return obj
    if callable(obj):
        made = obj()
        if isinstance(made, Scheduler):
            return made
        raise UsageError(
            f"{spec} was called as a factory but returned {type(made).__name__}, not a Scheduler"
        )
    raise UsageError(f"{spec} is a {type(obj).__name__}, not a Scheduler or a factory of one")


# -- commands ----------------------------------------------------------------------------------


def _tz_or_usage(name: str | None) -> tzinfo:
    from ._tz import UTC, zone

    if name is None:
        return UTC
    try:
        return zone(name)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def _format_time(dt: datetime) -> str:
    return f"{dt.isoformat(sep=' ')}  {dt.strftime('%a')}"


_FIELD_ORDER = ("second", "minute", "hour", "day of month", "month", "day of week")


def _caret(exc: InvalidCronExpression) -> str:
    """Two lines pointing at the bad token, as compilers do: the fastest way to see a typo."""
    if not exc.token or not exc.field or exc.field not in _FIELD_ORDER:
        return ""
    spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", exc.expression)]
    order = _FIELD_ORDER if len(spans) == 6 else _FIELD_ORDER[1:]
    if len(spans) != len(order):
        return ""
    start, text = spans[order.index(exc.field)]
    offset = text.find(exc.token)
    if offset < 0:
        return ""
    col = start + offset
    return f"\n  {exc.expression}\n  {' ' * col}{'^' * len(exc.token)}"


def cmd_next(args: argparse.Namespace, out: TextIO) -> int:
    """Print the next fire times of a cron expression."""
    from .triggers.cron import Cron

    tz = _tz_or_usage(args.tz)
    try:
        cron = Cron(args.expression, timezone=tz)
    except InvalidCronExpression as exc:
        raise UsageError(str(exc) + _caret(exc)) from exc
    if args.after is None:
        after = datetime.now(timezone.utc)
    else:
        try:
            after = datetime.fromisoformat(args.after)
        except ValueError as exc:
            raise UsageError(f"--after: not an ISO 8601 date-time: {args.after!r}") from exc
        if after.tzinfo is None:
            after = after.replace(tzinfo=tz)
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    printed = 0
    for _ in range(args.n):
        nxt = cron.next_after(after)
        if nxt is None:
            break
        out.write(_format_time(nxt.astimezone(tz)) + "\n")
        printed += 1
        after = nxt
    if printed == 0:
        out.write("no further fire times\n")
    return EXIT_OK


def run_until_signal(sched: Scheduler) -> bool:
    """Start ``sched`` unless it is running, block until SIGTERM or SIGINT, then shut it down
    gracefully (:meth:`~scheduler.Scheduler.run_forever`). Call it from the main thread.

    :returns: False when a job was still running at the shutdown timeout
    """
    return bool(sched.run_forever())


def _print_to_stderr(text: str) -> None:
    sys.stderr.write(text)


def run_job_now(
    sched: Scheduler,
    job_id: str,
    echo: Callable[[str], Any],
    echo_err: Callable[[str], Any] = _print_to_stderr,
) -> int:
    """Run one job now and report how it ended: ``'<id>: succeeded'`` or ``'<id>: failed: ...'``.

    A running scheduler runs it on its pool (:meth:`~scheduler.Scheduler.run_job`). A stopped
    one (the usual case for ``flask scheduler run-job`` and ``manage.py scheduler_jobs run``)
    is *not* started, since starting would also run whatever else is due and catch up missed
    fires; the job is called in this thread instead, inside the scheduler's ``run_context``
    and with ``current_job()`` set, exactly as the pool would call it. Like ``run_job``, the
    run is not claimed in the store and not recorded in the run history.

    :param echo: writes the one-line outcome
    :param echo_err: writes the traceback of a failed run (stderr)
    :returns: an exit code: 0 when the run succeeded, 1 when it raised
    :raises JobNotFound: no such job
    """
    sched.get_job(job_id)  # JobNotFound before anything runs
    try:
        if sched.running:
            value = sched.run_job(job_id).result()
        else:
            value = sched.call_job(job_id)
    except Exception as exc:
        # The traceback goes to stderr (where a person running the command looks for it);
        # the one-line outcome still goes through ``echo``.
        echo_err("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        echo(f"{job_id}: failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
    echo(f"{job_id}: succeeded" + ("" if value is None else f" (returned {value!r})"))
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    sched = load_target(args.target)
    out.write(format_jobs(sched))
    return EXIT_OK


def cmd_run_job(args: argparse.Namespace, out: TextIO) -> int:
    sched = load_target(args.target)
    return run_job_now(sched, args.job_id, lambda text: out.write(text + "\n"))


def cmd_jobs_remove(args: argparse.Namespace, out: TextIO) -> int:
    """Delete a job added at run time from a store, without starting a scheduler."""
    from .stores import from_url
    from .stores._url import mask_url

    where = mask_url(args.store)
    store = from_url(args.store)
    try:
        store.open()
        item = store.get_job(args.job_id)
        if item is None:
            print(f"scheduler jobs remove: no job {args.job_id!r} in {where}", file=sys.stderr)
            return EXIT_FAILURE
        if not item.definition.dynamic:
            print(
                f"scheduler jobs remove: job {args.job_id!r} in {where} is declared in code, "
                f"not added at run time: every start registers it again; remove it from the "
                f"code instead",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        store.unregister(args.job_id)
    finally:
        store.close()
    out.write(f"removed dynamic job {args.job_id} ({item.definition.func_ref}) from {where}\n")
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    setup_logging(args.log_level, args.log_format)
    sched = load_target(args.target)
    logger.info("running %s until SIGTERM or SIGINT (pid %d)", args.target, os.getpid(),
                extra={"target": args.target, "pid": os.getpid()})
    if run_until_signal(sched) is False:
        logger.warning("shut down with jobs still running after the shutdown timeout")
        return EXIT_FAILURE
    return EXIT_OK


def cmd_celery_beat(args: argparse.Namespace, out: TextIO) -> int:
    setup_logging(args.log_level, args.log_format)
    from .contrib._celery_beat import run_beat

    return run_beat(args.app, store=args.store, prefix=args.prefix)


# -- parser ------------------------------------------------------------------------------------

#: the distribution this package is installed as (PyPI's ``scheduler`` is another project)
DISTRIBUTION = "threadcron"


def version_text() -> str:
    """``threadcron 0.1.0``: the installed distribution's version, for ``--version``."""
    from importlib import metadata

    try:
        return f"{DISTRIBUTION} {metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:
        here = os.path.dirname(os.path.abspath(__file__))
        return (
            f"{DISTRIBUTION}: version unknown (the distribution is not installed; the "
            f"scheduler package was imported from {here})"
        )


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (``importlib.metadata`` reads the disk)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the installed version")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(version_text())
        parser.exit()



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scheduler", description="Run and inspect schedulers; check cron expressions."
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a scheduler until SIGTERM/SIGINT",
        description="Run the Scheduler at module:attr until SIGTERM or SIGINT, then shut "
        "down gracefully. Exit 0 when every running job finished in time, 1 when the "
        "shutdown timeout expired first.",
    )
    run.add_argument("target", help="module:attr naming a Scheduler or a factory of one")
    run.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    )
    run.add_argument("--log-format", default="text", choices=["text", "json"])
    run.set_defaults(func=cmd_run)

    lst = sub.add_parser("list", help="list jobs, their triggers and next run times")
    lst.add_argument("target", help="module:attr naming a Scheduler or a factory of one")
    lst.set_defaults(func=cmd_list)

    beat = sub.add_parser(
        "celery-beat",
        help="run a Celery app's beat_schedule, each fire sent once (replaces celery beat)",
        description="Send the tasks of the Celery app's beat_schedule. Replicas sharing "
        "--store send each fire once. A bad entry or an unreachable broker exits with code 2 "
        "before anything is sent.",
    )
    beat.add_argument("app", help="module:attr naming the Celery app (proj.celery:app)")
    beat.add_argument("--store", default=None, help="store URL shared by the replicas (memory)")
    beat.add_argument("--prefix", default=None, help="table/key prefix in the store")
    beat.add_argument("--log-level", default="INFO", type=str.upper,
                      choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    beat.add_argument("--log-format", default="text", choices=["text", "json"])
    beat.set_defaults(func=cmd_celery_beat)

    rj = sub.add_parser(
        "run-job",
        help="run one job now in this process and print how it ended",
        description="Run one job now in this process (the scheduler is not started, so "
        "nothing else runs), print its outcome; a failure prints the traceback on stderr "
        "and exits 1.",
    )
    rj.add_argument("target", help="module:attr naming a Scheduler or a factory of one")
    rj.add_argument("job_id", help="the job's id (see 'scheduler list')")
    rj.set_defaults(func=cmd_run_job)

    jobs = sub.add_parser("jobs", help="change the jobs kept in a store")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    rm = jobs_sub.add_parser(
        "remove",
        help="delete a job added at run time from a store",
        description="Delete a dynamic job (added at run time) from the store at URL, so "
        "that no instance runs it again; its run history stays. Exit 1 when the store has "
        "no such job or it is declared in code.",
    )
    rm.add_argument("--store", required=True, help="store URL (sqlite:///..., postgresql://...)")
    rm.add_argument("job_id", help="the job's id")
    rm.set_defaults(func=cmd_jobs_remove)

    from ._cli_dashboard import add_parser as add_dashboard
    from ._cli_health import add_command as add_health

    add_dashboard(sub)
    add_health(sub)

    nxt = sub.add_parser(
        "next",
        help="print the next fire times of a cron expression",
        description="Print the next fire times of a cron expression, with the library's "
        "daylight-saving rules. A bad expression exits with code 2 and names the field.",
    )
    nxt.add_argument("expression", help="cron expression, e.g. '*/15 9-17 * * mon-fri'")
    nxt.add_argument("--tz", default=None, help="IANA zone the expression is read in (UTC)")
    nxt.add_argument("-n", type=int, default=5, help="how many fire times (5)")
    nxt.add_argument(
        "--after", default=None, help="start from this ISO date-time (naive: in --tz); now"
    )
    nxt.set_defaults(func=cmd_next)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scheduler`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, sys.stdout))
    except UsageError as exc:
        print(f"scheduler {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SchedulerError as exc:
        # Configuration and lookup errors raised by the user's scheduler at start-up.
        print(f"scheduler {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigurationError) else EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
