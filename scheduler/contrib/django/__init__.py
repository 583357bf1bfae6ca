"""Django integration: settings, ``jobs.py`` discovery, database hygiene, management commands.

Add ``"scheduler.contrib.django"`` to ``INSTALLED_APPS`` and declare jobs in any app's
``jobs.py`` (discovered like ``admin.py``)::

    # myapp/jobs.py
    from scheduler.contrib.django import job

    @job("0 3 * * *")
    def purge_sessions():
        Session.objects.filter(expire_date__lt=timezone.now()).delete()

Then run ``python manage.py runscheduler`` as its own process (recommended), or set
``SCHEDULER = {"autostart": True, "store": "sqlite:///..."}`` and build the web application
with :func:`scheduler.contrib.django.wsgi.get_wsgi_application`.

There is one scheduler per process, built from ``settings.SCHEDULER`` on first use
(:func:`get_scheduler`). Every run is wrapped in ``close_old_connections()`` before and after,
as Django does around a request, so a job never uses a connection the server has closed
overnight and connections do not outlive ``CONN_MAX_AGE``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .._common import check_uwsgi_threads

if TYPE_CHECKING:
    from ...scheduler import Scheduler

__all__ = ["db_connections", "get_scheduler", "job", "maybe_autostart", "reset", "task"]

logger = logging.getLogger("scheduler.contrib.django")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _JobSpec:
    func: Callable[..., Any]
    trigger: Any
    options: dict[str, Any]


_lock = threading.RLock()
_specs: list[_JobSpec] = []
_tasks: list[Callable[..., Any]] = []
_scheduler: Scheduler | None = None


@contextmanager
def db_connections(job: Any = None) -> Iterator[None]:
    """Close unusable or expired database connections before and after a run.

    Django does this around each request (the ``request_started`` and ``request_finished``
    signals); a job thread has no request, so the scheduler does it around each run.
    """
    from django.db import close_old_connections

    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()


class _DBConnections:
    """The run_context hook: :func:`db_connections` around each run.

    For ``executor="process"`` it is pickled with the settings module's name; unpickling it
    in a worker process runs ``django.setup()`` there (before the job's module is imported),
    so the worker opens its own connections and never shares the parent's.
    """

    def __call__(self, job: Any) -> Any:
        return db_connections(job)

    def __reduce__(self) -> tuple[Any, ...]:
        from django.conf import settings

        return (_setup_in_worker, (getattr(settings, "SETTINGS_MODULE", None),))


def _setup_in_worker(settings_module: str | None) -> _DBConnections:
    import os

    import django
    from django.apps import apps

    if not apps.ready:
        if settings_module:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
        django.setup()
    return _DBConnections()


def _add(sched: Scheduler, spec: _JobSpec, defaults: dict[str, Any]) -> None:
    sched.add_job(spec.func, spec.trigger, **{**defaults, **spec.options})


def get_scheduler() -> Scheduler:
    """The process's scheduler, built from ``settings.SCHEDULER`` on first call, with every
    job declared with :func:`job` so far.

    :raises ConfigurationError: the setting is invalid
    """
    global _scheduler
    with _lock:
        if _scheduler is None:
            from ...scheduler import Scheduler
            from .conf import get_settings, scheduler_options

            values = get_settings()
            sched = Scheduler(**scheduler_options(values), run_context=_DBConnections())
            for func in _tasks:
                sched.task(func)
            for spec in _specs:
                _add(sched, spec, values["job_defaults"])
            _scheduler = sched
        return _scheduler


def task(func: F) -> F:
    """Allow ``func`` in jobs added at run time to the process's scheduler (see
    :meth:`scheduler.Scheduler.task` and docs/security.md); returns it unchanged. Use it in
    a module every process imports (an app's ``jobs.py``).

    :raises InvalidJob: a function other processes could not import by name
    """
    from ..._refs import ref_of

    ref_of(func)
    with _lock:
        _tasks.append(func)
        if _scheduler is not None:
            _scheduler.task(func)
    return func


def job(trigger: Any, **options: Any) -> Callable[[F], F]:
    """Declare a job of the process's scheduler; returns the function unchanged.

    Use it in an app's ``jobs.py``. The scheduler is built lazily, so declaring a job reads no
    settings; bad options are reported when the scheduler is built (``runscheduler``, the
    first :func:`get_scheduler` call).

    :param trigger: a cron string, ``timedelta``, or a trigger object
    :param options: :meth:`~scheduler.Scheduler.add_job` options (``id``, ``retries``, ...);
        ``SCHEDULER['job_defaults']`` fills in the ones not given
    """

    def decorator(func: F) -> F:
        spec = _JobSpec(func, trigger, dict(options))
        with _lock:
            _specs.append(spec)
            if _scheduler is not None:
                from .conf import get_settings

                _add(_scheduler, spec, get_settings()["job_defaults"])
        return func

    return decorator


def start() -> Scheduler:
    """Start the process's scheduler unless it is running; returns it.

    :raises ConfigurationError: invalid settings, or uWSGI without ``enable-threads``
    """
    sched = get_scheduler()
    with _lock:
        if not sched.running:
            check_uwsgi_threads()
            sched.start()
    return sched


def maybe_autostart(where: str) -> bool:
    """Start the scheduler if ``SCHEDULER['autostart']`` is on; True if it was started here."""
    from .conf import get_settings

    if not get_settings()["autostart"]:
        return False
    sched = get_scheduler()
    if sched.running:
        return False
    start()
    logger.info("scheduler started by autostart (%s)", where, extra={"autostart": where})
    return True


def reset(wait: bool = True) -> None:
    """Shut the process's scheduler down and forget it (tests, ``override_settings``).

    Declared jobs are kept: the next :func:`get_scheduler` builds a new scheduler from the
    current settings with them.
    """
    global _scheduler
    with _lock:
        sched, _scheduler = _scheduler, None
    if sched is not None and sched.running:
        sched.shutdown(wait=wait)
