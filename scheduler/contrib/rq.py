"""Hand fires to RQ: each claimed fire enqueued once (extra ``[rq]``).

::

    sched = Scheduler(store="postgresql://beat@db/beat")
    sched.add_rq_job("reports.jobs:nightly", "0 3 * * *", queue="reports",
                     connection="redis://rq-redis:6379/0", retries=3)

A fire is an ordinary job whose function is :func:`enqueue`: it is claimed once in the store,
then enqueued with an RQ job id derived from the fire key (a uuid5 of it: RQ ids may only
hold letters, digits, ``_`` and ``-``). Before enqueueing, the sender looks for that id in
Redis: a fire whose job is already there (an earlier attempt whose answer was lost, or a
retried lost run) is not enqueued again. The run record's ``result`` is the RQ job id. With
``follow_results=True`` the run waits for the RQ job and ends as it does.

A job added this way after ``start()`` to a durable store is loaded by every instance, and
each enqueues only what it allowed (docs/security.md): the functions and Redis URLs its own
code gave to :func:`add_rq_job` or :func:`allow_rq`, or functions defined under its
``allowed_modules``. A writer of the store could otherwise have a worker run ``os:system``, or
point this process at a Redis of theirs (whose job data RQ unpickles).

RQ is imported lazily: the core never depends on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .._refs import Allowlist, check_json, resolve, stable_ref
from ..exceptions import ConfigurationError, InvalidJob, unknown_name_message
from ..stores._url import mask_url
from ._handoff import Grants, SentId, fire_uuid, grants_for, grants_of_run, run_context

if TYPE_CHECKING:
    from ..job import Job
    from ..scheduler import Scheduler
    from ..triggers import Trigger

__all__ = [
    "DEFAULT_CONNECTION",
    "RQ_OPTIONS",
    "RQJobFailed",
    "add_rq_job",
    "allow_rq",
    "enqueue",
]

log = logging.getLogger("scheduler.contrib.rq")

#: RQ's own default: ``Redis()`` on localhost, database 0
DEFAULT_CONNECTION = "redis://localhost:6379/0"
#: ``Queue.enqueue_call`` options that may be given (``timeout`` is the job's run time limit)
RQ_OPTIONS = ("at_front", "description", "failure_ttl", "meta", "result_ttl", "timeout", "ttl")

_clients: dict[str, Any] = {}  # Redis URL -> client (thread-safe, fork-aware pool)
_clients_lock = threading.Lock()


class RQJobFailed(Exception):
    """The RQ job a run followed failed or stopped, or was not done when the run was told to
    stop; the run is recorded as failed (or timed out)."""


def _require_rq() -> None:
    try:
        import rq  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"RQ is not installed ({exc}); install it with: pip install 'threadcron[rq]'"
        ) from None


def _redis(url: str) -> Any:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            from redis import Redis

            client = _clients[url] = Redis.from_url(url)
        return client


def enqueue(
    *,
    func: str,
    queue: str = "default",
    connection: str = DEFAULT_CONNECTION,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    follow_results: bool = False,
    poll: float = 0.5,
) -> SentId:
    """Enqueue one fire of ``func`` (``'pkg.mod:func'``); the job function behind
    :func:`add_rq_job`.

    In a scheduler's run, ``func`` and ``connection`` must be allowed by that scheduler
    (:func:`allow_rq`), checked before connecting to Redis.

    :returns: the RQ job id (the run record's ``result``)
    :raises InvalidJob: the function, URL or an option is not allowed here (nothing enqueued)
    :raises Exception: whatever Redis raised (the run fails; retries apply)
    :raises RQJobFailed: following the job, it failed, or the run was told to stop
    """
    ctx = run_context(func)
    grants = grants_of_run(ctx)
    if grants is not None:  # a scheduler's run: the arguments may come from its store
        sent = {"func": func, "connection": connection, "queue": queue, "options": options}
        _check_stored(grants, sent)
    from rq import Queue
    from rq.job import Job as RQJob

    redis = _redis(connection)
    job_id = fire_uuid(ctx.job_id, ctx.scheduled_time)
    if RQJob.exists(job_id, connection=redis):
        # Sent already (the answer of an earlier attempt was lost, or a lost run is retried):
        # RQ would enqueue a second copy under the same id, so do not.
        job = RQJob.fetch(job_id, connection=redis)
        if follow_results and job.get_status() in ("failed", "stopped"):
            job.requeue()  # the retry of a failed fire runs it again
    else:
        Queue(queue, connection=redis).enqueue_call(
            func=func.replace(":", "."), args=args or [], kwargs=kwargs or {}, job_id=job_id,
            **(options or {}),
        )
        log.info(
            "enqueued rq job %s [%s] on queue %s for fire %s",
            func,
            job_id,
            queue,
            ctx.fire_key,
            extra={"func": func, "rq_job_id": job_id, "queue": queue, "fire_key": ctx.fire_key},
        )
    if follow_results:
        _follow(func, job_id, redis, ctx.cancel_event, poll)
    return SentId(job_id)


def _follow(func: str, job_id: str, redis: Any, cancel: threading.Event, poll: float) -> None:
    from rq.job import Job as RQJob

    job = RQJob.fetch(job_id, connection=redis)
    while True:
        try:
            got = job.get_status(refresh=True)
            status = str(getattr(got, "value", got))
        except Exception:  # the job's hash expired or was deleted
            raise RQJobFailed(f"rq job {func} [{job_id}] vanished from Redis") from None
        if status == "finished":
            return
        if status in ("failed", "stopped", "canceled"):
            latest = job.latest_result()
            detail = (latest.exc_string or "").strip().splitlines()[-1:] if latest else []
            raise RQJobFailed(f"rq job {func} [{job_id}] {status}: {' '.join(detail)}")
        if cancel.wait(poll):
            raise RQJobFailed(
                f"rq job {func} [{job_id}] still {status} when the run was told to stop "
                f"(timeout or shutdown)"
            )


def _func_ref(func: object) -> str:
    """``'pkg.mod:func'`` of a path or a module-level function.

    :raises InvalidJob: anything else
    """
    ref = func if isinstance(func, str) else stable_ref(func)  # type: ignore[arg-type]
    module, sep, qualname = ref.partition(":")
    if not sep or not module or not qualname or "<" in qualname:
        raise InvalidJob(f"func must be 'package.module:function' or a module-level function, "
                         f"got {func!r}")
    return ref


def _check_stored(grants: Grants, kwargs: dict[str, Any]) -> None:
    """Refuse an enqueue whose function or Redis URL this scheduler did not allow
    (docs/security.md), or whose options RQ would turn into code (``on_success``...):
    checked when a stored job is loaded and again at the enqueue, before connecting.

    :raises InvalidJob: naming what is not allowed and how to allow it
    """
    func, connection = kwargs.get("func"), kwargs.get("connection", DEFAULT_CONNECTION)
    if not grants.named("the RQ function", func):
        module = func.partition(":")[0] if isinstance(func, str) else ""
        how = (
            f"call scheduler.contrib.rq.allow_rq(sched, funcs=[{func!r}]), or list its "
            f"module in allowed_modules"
        )
        if not grants.module_allowed(module):
            raise grants.refuse("the RQ function", func, how)
        try:
            # Under allowed_modules means defined there, as for any dynamic job: importing
            # an allowed module is allowed, and 'myapp.jobs:system' (imported from os) is not
            # a way through. The worker imports the same path.
            Allowlist(grants.modules).resolve(str(func))
        except InvalidJob as exc:
            raise InvalidJob(
                f"the RQ function {func!r} is refused: {exc} (a function that only the "
                f"workers can import is allowed by name: allow_rq(sched, funcs=[...]))"
            ) from None
    if not grants.named("the RQ connection", connection):
        shown = mask_url(connection)  # the message is logged and kept in the store
        raise grants.refuse(
            "the RQ connection",
            shown,
            f"call scheduler.contrib.rq.allow_rq(sched, connection={shown!r}) (with its "
            f"password; a Redis URL is allowed by name only)",
            by_module=False,
        )
    queue = kwargs.get("queue", "default")
    if not isinstance(queue, str) or not queue.strip():
        raise InvalidJob(f"queue must be a non-empty string, got {queue!r}")
    options = kwargs.get("options") or {}
    if not isinstance(options, dict):
        raise InvalidJob(f"options must be a dict of enqueue_call options, got {options!r}")
    for name in options:
        if name not in RQ_OPTIONS:
            raise InvalidJob(unknown_name_message("RQ option", name, RQ_OPTIONS))


def allow_rq(
    sched: Scheduler,
    *,
    connection: str = DEFAULT_CONNECTION,
    funcs: Iterable[str | Callable[..., Any]] = (),
) -> None:
    """Let ``sched`` enqueue ``funcs`` on ``connection`` for jobs that any instance added at
    run time.

    Such a job is stored, and each instance that loads it enqueues only what its own code
    allowed: the Redis URLs and functions given here or to :func:`add_rq_job`, and
    functions defined in modules under its ``allowed_modules``. Call it in every process
    that runs the scheduler, before ``start()``; a stored job naming anything else is
    marked broken and never enqueued::

        allow_rq(sched, connection="redis://rq-redis:6379/0", funcs=["reports.jobs:nightly"])

    :param connection: a Redis URL the hand-off may connect to (exactly as jobs name it)
    :param funcs: ``'pkg.mod:func'`` paths or functions the workers may be given (as text:
        nothing is imported)
    :raises InvalidJob: a malformed path or URL
    """
    _require_rq()
    if not isinstance(connection, str) or "://" not in connection:
        raise InvalidJob(f"connection must be a Redis URL, got {mask_url(connection)!r}")
    if isinstance(funcs, str) or not isinstance(funcs, Iterable):
        raise InvalidJob(f"funcs must be a list of 'package.module:function', got {funcs!r}")
    refs = [_func_ref(func) for func in funcs]
    grants = grants_for(sched, enqueue, _check_stored)
    grants.allow("the RQ connection", connection)
    for ref in refs:
        grants.allow("the RQ function", ref)


def add_rq_job(
    sched: Scheduler,
    func: str | Callable[..., Any],
    trigger: Trigger | str | timedelta,
    *,
    queue: str = "default",
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    connection: str = DEFAULT_CONNECTION,
    options: Mapping[str, Any] | None = None,
    follow_results: bool = False,
    id: str | None = None,
    **job_options: Any,
) -> Job:
    """Enqueue ``func`` on the RQ queue ``queue`` at every fire of ``trigger``, each fire once.

    :param func: ``'pkg.mod:func'`` (the RQ worker imports it) or the function itself
    :param args: JSON-serialisable positional arguments
    :param kwargs: JSON-serialisable keyword arguments
    :param connection: the Redis URL of the RQ queues
    :param options: ``enqueue_call`` options: ``timeout``, ``result_ttl``, ``ttl``,
        ``failure_ttl``, ``description``, ``at_front``, ``meta``
    :param follow_results: the run waits for the RQ job and ends as it does (bound it with
        ``timeout=``)
    :param id: the job id; default ``func``'s path
    :param job_options: ``add_job`` options (``retries``, ``timeout``, ``misfire_grace_time``...)
    :raises InvalidJob: a malformed path, a bad queue name or option, non-JSON arguments

    The function and ``connection`` are allowed in ``sched`` from then on (as by
    :func:`allow_rq`): the other instances that load a job added at run time must allow them
    too.
    """
    _require_rq()
    ref = _func_ref(func)
    job_id = id or ref
    if not isinstance(queue, str) or not queue.strip():
        raise InvalidJob(f"queue must be a non-empty string, got {queue!r}", job_id=job_id)
    if not isinstance(connection, str) or "://" not in connection:
        raise InvalidJob(f"connection must be a Redis URL, got {connection!r}", job_id=job_id)
    if isinstance(args, (str, bytes, Mapping)) or not isinstance(args, Iterable):
        raise InvalidJob(f"args must be a list or tuple, got {args!r}", job_id=job_id)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise InvalidJob(f"kwargs must be a dict, got {kwargs!r}", job_id=job_id)
    for name in options or {}:
        if name not in RQ_OPTIONS:
            raise InvalidJob(unknown_name_message("RQ option", name, RQ_OPTIONS), job_id=job_id)
    if not isinstance(follow_results, bool):
        raise InvalidJob(f"follow_results must be True or False, got {follow_results!r}")
    try:
        resolve(ref)
    except InvalidJob as exc:  # the worker imports it, not this process: only say so
        log.warning("rq job %s: %s (the RQ worker must be able to import it)", job_id, exc)
    sender_kwargs = {
        "func": ref,
        "queue": queue,
        "connection": connection,
        "args": check_json(list(args), "args"),
        "kwargs": check_json(dict(kwargs or {}), "kwargs"),
        "options": check_json(dict(options or {}), "options"),
        "follow_results": follow_results,
    }
    allow_rq(sched, connection=connection, funcs=[ref])  # so a peer's check has them too
    return sched.add_job(enqueue, trigger, id=job_id, name=ref, kwargs=sender_kwargs, **job_options)
