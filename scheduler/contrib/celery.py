"""Hand fires to Celery: a highly available ``celery beat`` (extra ``[celery]``).

Run the beat of a Celery app, as many replicas as you like, each fire sent once::

    scheduler celery-beat proj.celery:app --store postgresql://beat@db/beat

or schedule tasks from code::

    sched.add_celery_task("proj.tasks.report", "0 7 * * mon-fri", args=[42],
                          options={"queue": "reports"}, app="proj.celery:app")

A task added this way after ``start()`` to a durable store is loaded by every instance, and
each sends only what it allowed (docs/security.md): the app and task names its own code gave
to :func:`add_celery_task` or :func:`allow_celery`, or under its ``allowed_modules``.

How a fire travels: it is an ordinary job whose function is :func:`send_task`, so it is
claimed once in the store like any fire (durable stores included), then sent with
``task_id`` = a uuid5 of the fire key (the same fire always carries the same task id). The
run record's ``result`` is that task id. A send the broker refuses raises, so the run fails
and the job's ``retries`` apply. With ``follow_results=True`` the run waits for the task
through the result backend and ends as the task does (within the job's ``timeout``).

Celery is imported lazily: the core never depends on it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from .._refs import ModuleMissing, check_json, dotted, import_here
from .._tz import UTC, zone
from ..exceptions import ConfigurationError, InvalidJob, unknown_name_message
from ._celery_schedules import BeatEntryError, to_trigger
from ._handoff import Grants, SentId, fire_uuid, grants_for, grants_of_run, run_context

if TYPE_CHECKING:
    from ..job import Job
    from ..scheduler import Scheduler
    from ..triggers import Trigger

__all__ = [
    "BeatEntryError",
    "CeleryTaskFailed",
    "add_celery_task",
    "allow_celery",
    "app_zone",
    "beat_jobs",
    "load_app",
    "run_beat",
    "send_task",
]

log = logging.getLogger("scheduler.contrib.celery")

#: the keys a ``beat_schedule`` entry may have (Celery's ScheduleEntry arguments)
ENTRY_KEYS = ("args", "kwargs", "options", "relative", "schedule", "task")
#: ``apply_async`` options that name further tasks, which the hand-off could not check
UNCHECKED_OPTIONS = ("chain", "link", "link_error")
_READY_FAILED = ("FAILURE", "REVOKED")
_ALREADY_RECEIVED = ("RECEIVED", "STARTED", "RETRY")

_apps: dict[str, Any] = {}  # app reference -> Celery app, per process
_apps_lock = threading.Lock()


class CeleryTaskFailed(Exception):
    """The task a run followed (``follow_results=True``) failed, was revoked or was not
    finished when the run was told to stop; the run is recorded as failed (or timed out)."""


def _require_celery() -> None:
    try:
        import celery  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"Celery is not installed ({exc}); install it with: pip install 'threadcron[celery]'"
        ) from None


# -- apps ----------------------------------------------------------------------------------


def load_app(spec: str) -> Any:
    """Import the Celery app ``module:attr`` (``module`` alone: its ``app`` or ``celery``).

    :raises ConfigurationError: malformed spec, module or attribute missing, not a Celery app
    """
    from celery import Celery

    if not isinstance(spec, str) or not spec.strip():
        raise ConfigurationError(f"expected a Celery app path 'module:attr', got {spec!r}")
    module_name, sep, attr = spec.strip().partition(":")
    try:
        module = import_here(module_name)  # the current directory first, as `celery -A` has
    except ModuleMissing as exc:
        raise ConfigurationError(
            f"cannot import the Celery app module {module_name!r} of {spec!r} "
            f"(current directory: {exc.cwd}): {exc.cause}"
        ) from None
    if not sep:  # `celery -A proj` style: its `app`, else its `celery`
        attr = "app" if hasattr(module, "app") or not hasattr(module, "celery") else "celery"
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                f"module {module_name!r} has no attribute {attr!r} (the Celery app of "
                f"{spec!r}); name it as 'module:attr'"
            ) from None
    if not isinstance(obj, Celery):
        raise ConfigurationError(f"{spec} is a {type(obj).__name__}, not a Celery app")
    with _apps_lock:
        _apps.setdefault(spec.strip(), obj)
    return obj


def _app_ref(app: Any) -> tuple[str, Any]:
    """A reference to ``app`` that every process resolves the same way, and the app."""
    _require_celery()
    from celery import Celery, current_app

    if isinstance(app, str):
        return app.strip(), _get_app(app.strip())
    if app is None:
        app = current_app._get_current_object()
    if not isinstance(app, Celery):
        raise InvalidJob(f"app must be a Celery app or 'module:attr', got {app!r}")
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "__main__")
        if name == "__main__":
            continue
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            if value is app:
                ref = f"{name}:{attr}"
                with _apps_lock:
                    _apps.setdefault(ref, app)
                return ref, app
    # Not importable by path (built in __main__, say): known to this process by its main name.
    ref = f"celery-app:{app.main or 'default'}"
    with _apps_lock:
        _apps[ref] = app
    return ref, app


def _get_app(ref: str) -> Any:
    with _apps_lock:
        app = _apps.get(ref)
    if app is not None:
        return app
    if ref.startswith("celery-app:"):
        raise ConfigurationError(
            f"the Celery app {ref[11:]!r} is not known in this process; schedule the task "
            f"with app='module:attr' so that every process can import it"
        )
    return load_app(ref)


def app_zone(app: Any) -> tzinfo:
    """The zone Celery reads crontabs in: ``timezone``, else UTC with ``enable_utc``, else
    the host's local zone."""
    conf = app.conf
    if conf.timezone:
        return zone(conf.timezone)
    if conf.enable_utc:
        return UTC
    local = os.environ.get("TZ", "").lstrip(":")
    if not local and os.path.islink("/etc/localtime"):
        local = os.path.realpath("/etc/localtime").partition("zoneinfo/")[2]
    try:
        return zone(local) if local else UTC
    except ConfigurationError:
        return UTC


def _has_backend(app: Any) -> bool:
    from celery.backends.base import DisabledBackend

    return not isinstance(app.backend, DisabledBackend)


# -- the send ------------------------------------------------------------------------------


def send_task(
    *,
    task: str,
    app: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    follow_results: bool = False,
    poll: float = 0.5,
) -> SentId:
    """Send one fire of a Celery task; the job function behind :func:`add_celery_task`.

    The task id is :func:`~scheduler.contrib._handoff.fire_uuid` of the current fire. A retry
    of the same fire (``retries``) asks the result backend first, where there is one: a task
    already received, running or done is not sent again (a failed one is sent again).

    In a scheduler's run, ``app`` and ``task`` must be allowed by that scheduler
    (:func:`allow_celery`), checked before the app is imported.

    :returns: the task id (the run record's ``result``)
    :raises InvalidJob: the app or task is not allowed here (nothing imported, nothing sent)
    :raises Exception: whatever the broker raised (the run fails; retries apply)
    :raises CeleryTaskFailed: following the task, it failed or the run was told to stop
    """
    ctx = run_context(task)
    grants = grants_of_run(ctx)
    if grants is not None:  # a scheduler's run: the arguments may come from its store
        _check_stored(grants, {"app": app, "task": task, "options": options})
    celery_app = _get_app(app)
    task_id = fire_uuid(ctx.job_id, ctx.scheduled_time)
    result = celery_app.AsyncResult(task_id)
    backend = _has_backend(celery_app)
    send = True
    if ctx.attempt > 1 and backend:
        state = result.state
        if state == "SUCCESS" or state in _ALREADY_RECEIVED:
            send = False
        elif state in _READY_FAILED:
            result.forget()  # else following would see the old failure at once
    if send:
        opts = dict(options or {})
        opts["headers"] = {**(opts.get("headers") or {}), "celery_beat_task": True}
        registered = celery_app.tasks.get(task)
        if registered is not None:  # task-level options and routes, as celery beat does
            registered.apply_async(args or [], kwargs or {}, task_id=task_id, **opts)
        else:
            celery_app.send_task(task, args or [], kwargs or {}, task_id=task_id, **opts)
        log.info(
            "sent celery task %s [%s] for fire %s",
            task,
            task_id,
            ctx.fire_key,
            extra={"task": task, "task_id": task_id, "fire_key": ctx.fire_key},
        )
    if follow_results:
        _follow(task, result, ctx.cancel_event, poll)
    return SentId(task_id)


def _follow(task: str, result: Any, cancel: threading.Event, poll: float) -> None:
    while True:
        state = result.state
        if state == "SUCCESS":
            return
        if state in _READY_FAILED:
            raise CeleryTaskFailed(f"celery task {task} [{result.id}] {state}: {result.result!r}")
        if cancel.wait(poll):
            raise CeleryTaskFailed(
                f"celery task {task} [{result.id}] still {state} when the run was told to stop "
                f"(timeout or shutdown)"
            )


# -- what may be sent ------------------------------------------------------------------------


def _check_stored(grants: Grants, kwargs: dict[str, Any]) -> None:
    """Refuse a send whose app or task this scheduler did not allow (docs/security.md):
    checked as text when a stored job is loaded and again at the send, before the app's
    module is imported.

    :raises InvalidJob: naming what is not allowed and how to allow it
    """
    app, task = kwargs.get("app"), kwargs.get("task")
    module, _, attr = app.partition(":") if isinstance(app, str) else ("", "", "")
    if not grants.named("the Celery app", app) and not (
        grants.module_allowed(module) and (not attr or dotted(attr))
    ):
        raise grants.refuse(
            "the Celery app",
            app,
            f"call scheduler.contrib.celery.allow_celery(sched, app={app!r}), or list its "
            f"module in allowed_modules",
        )
    if not grants.named("the Celery task", task) and not (
        dotted(task) and grants.module_allowed(str(task).rpartition(".")[0])
    ):
        raise grants.refuse(
            "the Celery task",
            task,
            f"call scheduler.contrib.celery.allow_celery(sched, app={app!r}, "
            f"tasks=[{task!r}]), or list the module part of its name in allowed_modules",
        )
    _task_options(kwargs.get("options"))


def allow_celery(sched: Scheduler, *, app: Any = None, tasks: Iterable[str] = ()) -> None:
    """Let ``sched`` send tasks of ``app`` named in jobs that any instance added at run time.

    Such a job is stored, and each instance that loads it sends only what its own code
    allowed: the app and task names given here, to :func:`add_celery_task` or by the
    ``celery-beat`` command, or under its ``allowed_modules`` (the app's module, the task
    name's module part: ``"proj.tasks"`` allows ``proj.tasks.report``). Call it in every
    process that runs the scheduler, before ``start()``; a stored job naming anything else
    is marked broken and never sent, nothing it names imported::

        allow_celery(sched, app="proj.celery:app", tasks=["proj.tasks.report"])

    :param app: the Celery app or ``'module:attr'`` (imported now); default Celery's current
    :param tasks: task names that may be sent
    :raises InvalidJob: a task name that is not a non-empty string
    :raises ConfigurationError: Celery missing, or ``app`` cannot be imported
    """
    if isinstance(tasks, str) or not isinstance(tasks, Iterable):
        raise InvalidJob(f"tasks must be a list of task names, got {tasks!r}")
    names = list(tasks)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidJob(f"a Celery task name must be a non-empty string, got {name!r}")
    ref, _ = _app_ref(app)
    grants = grants_for(sched, send_task, _check_stored)
    grants.allow("the Celery app", ref)
    for name in names:
        grants.allow("the Celery task", name)


# -- scheduling ----------------------------------------------------------------------------


def _task_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidJob(f"options must be a dict of apply_async options, got {options!r}")
    if "task_id" in options:
        raise InvalidJob("options['task_id'] cannot be set: each fire's task id is derived from it")
    for key in UNCHECKED_OPTIONS:
        if key in options:
            raise InvalidJob(
                f"options[{key!r}] cannot be set: it names further tasks, which the hand-off "
                f"does not check against what this process allowed; link them inside the task"
            )
    return check_json(dict(options), "options")  # type: ignore[no-any-return]


def add_celery_task(
    sched: Scheduler,
    name: str,
    trigger: Trigger | str | timedelta,
    *,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    app: Any = None,
    follow_results: bool = False,
    id: str | None = None,
    **job_options: Any,
) -> Job:
    """Send the Celery task ``name`` at every fire of ``trigger``, each fire once.

    :param name: the task's registered name (``send_task`` cannot check it: the worker does)
    :param args: JSON-serialisable positional arguments of the task
    :param kwargs: JSON-serialisable keyword arguments of the task
    :param options: ``apply_async`` options (``queue``, ``routing_key``, ``priority``,
        ``expires`` in seconds, ``headers``...), JSON-serialisable
    :param app: the Celery app, or ``'module:attr'`` (so other processes can import it);
        default: Celery's current app
    :param follow_results: the run waits for the task's end through the result backend and
        is recorded as the task ends; bound it with ``timeout=``
    :param id: the job id; default the task name
    :param job_options: ``add_job`` options (``retries``, ``timeout``, ``misfire_grace_time``...)
    :raises InvalidJob: bad name, non-JSON arguments or options (``link``, ``link_error`` and
        ``chain`` are refused), follow_results without a result backend

    The app and task name are allowed in ``sched`` from then on (as by :func:`allow_celery`):
    the other instances that load a job added at run time must allow them too.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidJob(f"the Celery task name must be a non-empty string, got {name!r}")
    ref, celery_app = _app_ref(app)
    if isinstance(args, (str, bytes, Mapping)) or not isinstance(args, Iterable):
        raise InvalidJob(f"args must be a list or tuple, got {args!r}", job_id=id or name)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise InvalidJob(f"kwargs must be a dict, got {kwargs!r}", job_id=id or name)
    if not isinstance(follow_results, bool):
        raise InvalidJob(f"follow_results must be True or False, got {follow_results!r}")
    if follow_results and not _has_backend(celery_app):
        raise InvalidJob(
            f"follow_results=True needs a result backend, and the Celery app {ref} has none "
            f"(set result_backend in its configuration)",
            job_id=id or name,
        )
    options = _task_options(options)
    grants = grants_for(sched, send_task, _check_stored)  # so a peer's check has it too
    grants.allow("the Celery app", ref)
    grants.allow("the Celery task", name)
    sender_kwargs = {
        "task": name,
        "app": ref,
        "args": check_json(list(args), "args"),
        "kwargs": check_json(dict(kwargs or {}), "kwargs"),
        "options": options,
        "follow_results": follow_results,
    }
    return sched.add_job(
        send_task, trigger, id=id or name, name=name, kwargs=sender_kwargs, **job_options
    )


def beat_jobs(sched: Scheduler, app: Any, app_ref: str) -> list[Job]:
    """Add every entry of ``app.conf.beat_schedule`` to ``sched`` (job id = entry name).

    Every entry is checked before any is added, so a bad one adds (and sends) nothing.

    :raises BeatEntryError: an entry of an unknown type, a bad crontab, a solar schedule,
        unknown keys, non-JSON arguments; naming the entry
    """
    tz = app_zone(app)
    with _apps_lock:
        _apps.setdefault(app_ref, app)
    planned = []
    for entry, spec in (app.conf.beat_schedule or {}).items():
        if not isinstance(spec, Mapping):
            raise BeatEntryError(str(entry), f"expected a dict, got {type(spec).__name__}")
        for key in spec:
            if key not in ENTRY_KEYS:
                raise BeatEntryError(str(entry), unknown_name_message("key", key, ENTRY_KEYS))
        for key in ("task", "schedule"):
            if key not in spec:
                raise BeatEntryError(str(entry), f"has no {key!r}")
        trigger = to_trigger(str(entry), spec["schedule"], bool(spec.get("relative")), tz)
        args = spec.get("args") or ()
        try:
            checked = (
                check_json(list(args), "args"),
                check_json(dict(spec.get("kwargs") or {}), "kwargs"),
                _task_options(spec.get("options")),
            )
        except (InvalidJob, TypeError, ValueError) as exc:
            raise BeatEntryError(str(entry), str(exc)) from None
        planned.append((str(entry), spec["task"], trigger, checked))
    jobs = []
    for entry, task, trigger, (args, kwargs, options) in planned:
        jobs.append(
            add_celery_task(
                sched, task, trigger, args=args, kwargs=kwargs, options=options, app=app_ref,
                id=entry,
            )
        )
    return jobs


def run_beat(app_spec: str, *, store: str | None = None, prefix: str | None = None) -> int:
    """``scheduler celery-beat`` (see :mod:`scheduler.contrib._celery_beat`)."""
    from ._celery_beat import run_beat

    return run_beat(app_spec, store=store, prefix=prefix)
