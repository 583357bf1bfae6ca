"""Flask integration: an extension, an app context around every run, ``flask scheduler``.

Usage, with an application factory::

    from scheduler.contrib.flask import FlaskScheduler

    scheduler = FlaskScheduler()

    @scheduler.job("*/5 * * * *")
    def refresh_cache():
        current_app.logger.info("refreshing")   # runs inside app.app_context()

    def create_app():
        app = Flask(__name__)
        app.config["SCHEDULER_STORE"] = "sqlite:///jobs.db"
        scheduler.init_app(app)
        return app

Each app gets its own :class:`~scheduler.Scheduler`, kept in ``app.extensions["scheduler"]``;
the extension object keeps no app, so one extension serves several apps (tests, dispatchers).

Configuration (``app.config``; an unknown ``SCHEDULER_*`` key is an error naming the nearest
valid one; values given to the constructor are the defaults the config overrides):

``SCHEDULER_TIMEZONE`` (``"UTC"``), ``SCHEDULER_STORE`` (``None``: in memory),
``SCHEDULER_MAX_WORKERS``, ``SCHEDULER_MAX_PROCESSES``, ``SCHEDULER_SHUTDOWN_TIMEOUT``,
``SCHEDULER_TICK``,
``SCHEDULER_JOB_DEFAULTS`` (a dict of ``add_job`` options for the extension's jobs),
``SCHEDULER_ALLOWED_MODULES`` (modules whose functions jobs added at run time may name; see
docs/security.md), ``SCHEDULER_AUTOSTART`` (``True``), ``SCHEDULER_HEALTH_URL`` (``None``;
a path such as ``"/healthz/scheduler"`` adds a GET route answering the scheduler's health as
JSON, 200 when healthy and 503 when not: this process's scheduler when it runs here, else
the cluster's as the shared store tells it; see :func:`scheduler._probe.health_of`), and the
dashboard's ``SCHEDULER_DASHBOARD`` (a path such as ``"/scheduler"``; None, the default,
mounts nothing) and ``SCHEDULER_DASHBOARD_AUTH`` (a callable ``(request) -> True |
"actions"``; without it every dashboard request gets 403; see
:mod:`scheduler.contrib._flask_dashboard`).

When autostart is on, :meth:`FlaskScheduler.init_app` starts the scheduler, except:

* in the Werkzeug reloader's *watcher* process of ``flask run --reload`` (``--debug``): the
  watcher serves nothing and restarts the child, which starts it; ``WERKZEUG_RUN_MAIN`` being
  unset alone is no reason to skip (gunicorn, waitress and uWSGI never set it);
* under any other ``flask`` command (``flask shell``, ``flask db upgrade``,
  ``flask scheduler ...``), which only loads the app.

``app.run(debug=True)`` from a script cannot be told apart at ``init_app`` time: pass
``use_reloader=False`` or set ``SCHEDULER_AUTOSTART = False`` there.
"""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from werkzeug.serving import is_running_from_reloader

from ..exceptions import ConfigurationError, JobNotFound
from ._common import check_uwsgi_threads, scheduler_kwargs, validate_settings
from ._flask_dashboard import DASHBOARD_SETTINGS
from ._flask_dashboard import mount as mount_dashboard

if TYPE_CHECKING:
    from ..scheduler import Scheduler

__all__ = ["FlaskScheduler", "SchedulerExtension", "is_reloader_watcher"]

logger = logging.getLogger("scheduler.contrib.flask")

F = TypeVar("F", bound=Callable[..., Any])

PREFIX = "SCHEDULER_"
EXTENSION_KEY = "scheduler"


def _config_key(name: str) -> str:
    return PREFIX + name.upper()


def is_reloader_watcher() -> bool:
    """Whether this process is the Werkzeug reloader's watcher under ``flask run``.

    True only when the current click command is Flask's ``run`` with the reloader on
    (``--reload``, or ``--debug`` without ``--no-reload``) and this is not the reloader's
    child (:func:`werkzeug.serving.is_running_from_reloader`).
    """
    if is_running_from_reloader():
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is None or not _is_flask_run(ctx.command):
        return False
    reload = ctx.params.get("reload")
    if reload is None:  # flask run's own default: follow --debug / FLASK_DEBUG
        from flask.helpers import get_debug_flag

        reload = get_debug_flag()
    return bool(reload)


def _is_flask_run(command: click.Command | None) -> bool:
    from flask.cli import run_command

    return command is run_command


def _autostart_veto() -> str | None:
    """Why autostart must not start here, or None to start."""
    if is_running_from_reloader():
        return None  # the reloader's child: the process that serves
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None  # gunicorn, uWSGI, waitress, app.run(), tests
    if _is_flask_run(ctx.command):
        if is_reloader_watcher():
            return "this is the Werkzeug reloader's watcher process; the reloaded child starts it"
        return None
    if ctx.parent is None:  # the app is loaded to look up one of app.cli's commands
        return "a flask command is loading the app; it only needs the app, not its jobs"
    return f"the 'flask {ctx.info_name}' command only loads the app"


class _AppContext:
    """The run_context hook: ``app.app_context()`` around each run.

    For ``executor="process"`` it is pickled as the way to find the app again, and the
    worker process builds its own app (and its own context) by importing it, as ``flask``'s
    CLI finds an app: the app object among the globals of its module (``app.import_name``),
    else that module's ``create_app()`` or ``make_app()`` factory.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, job: Any) -> Any:
        return self.app.app_context()

    def __reduce__(self) -> tuple[Any, ...]:
        import sys

        name = self.app.import_name
        module = sys.modules.get(name)
        for attr, value in vars(module).items() if module is not None else ():
            if value is self.app:
                return (_app_in_worker, (name, attr, False))
        for attr in ("create_app", "make_app"):
            if callable(getattr(module, attr, None)):
                return (_app_in_worker, (name, attr, True))
        raise TypeError(
            f"a worker process cannot find the Flask app {self.app.name!r}: make it a global "
            f"of module {name!r} or give that module a create_app() factory"
        )


def _app_in_worker(module_name: str, attr: str, factory: bool) -> _AppContext:
    """In a worker process: import the app's module and take (or make) the app."""
    import importlib

    found = getattr(importlib.import_module(module_name), attr)
    return _AppContext(found() if factory else found)


@dataclass(eq=False)
class _AppState:
    """What one app owns, kept in ``app.extensions["scheduler"]``."""

    extension: FlaskScheduler
    scheduler: Scheduler
    settings: dict[str, Any]
    job_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _JobSpec:
    func: Callable[..., Any]
    trigger: Any
    options: Mapping[str, Any]


class FlaskScheduler:
    """The Flask extension: one :class:`~scheduler.Scheduler` per app, jobs run in its context.

    :param app: an app to initialise at once (else call :meth:`init_app` later)
    :param options: defaults for the ``SCHEDULER_*`` settings, as lower-case names
        (``timezone="Europe/Bratislava"``, ``store="sqlite:///jobs.db"``, ``autostart=False``)
    :raises ConfigurationError: an unknown option (naming the nearest valid one) or a bad value
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        self._defaults = validate_settings(
            options, spell=str, kind="option", extra=_FLASK_SETTINGS
        )
        self._jobs: list[_JobSpec] = []
        self._tasks: list[Callable[..., Any]] = []
        # The states of the apps initialised so far, so jobs declared after init_app reach
        # them too. Weak: the extension must not keep apps alive.
        self._states: weakref.WeakSet[_AppState] = weakref.WeakSet()
        if app is not None:
            self.init_app(app)

    # -- set-up ---------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Build the app's scheduler from ``app.config``, add the jobs, maybe start it.

        :raises ConfigurationError: an unknown ``SCHEDULER_*`` key, a bad value, or the app
            was initialised already
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError(f"the scheduler extension is already initialised on {app!r}")
        from ..scheduler import Scheduler

        configured = {k: v for k, v in app.config.items() if k.startswith(PREFIX)}
        own = validate_settings(configured, spell=_config_key, extra=_FLASK_SETTINGS)
        settings = {**self._defaults, **own}
        for_scheduler = {k: v for k, v in settings.items() if k not in DASHBOARD_SETTINGS}
        sched = Scheduler(**scheduler_kwargs(for_scheduler), run_context=_AppContext(app))
        state = _AppState(extension=self, scheduler=sched, settings=settings)
        app.extensions[EXTENSION_KEY] = state
        self._states.add(state)
        for func in self._tasks:
            sched.task(func)
        for spec in self._jobs:
            self._add(state, spec)
        app.cli.add_command(_make_cli())
        if settings.get("health_url"):
            app.add_url_rule(
                settings["health_url"], endpoint="scheduler_health", view_func=_health_view
            )
        if settings.get("dashboard"):
            mount_dashboard(app, sched, settings["dashboard"], settings.get("dashboard_auth"))

        if settings.get("autostart", True):
            veto = _autostart_veto()
            if veto is None:
                self.start(app)
            else:
                logger.debug("not starting the scheduler of %s: %s", app.name, veto,
                             extra={"app": app.name})

    def _add(self, state: _AppState, spec: _JobSpec) -> None:
        options = {**(state.settings.get("job_defaults") or {}), **spec.options}
        job = state.scheduler.add_job(spec.func, spec.trigger, **options)
        state.job_ids.append(job.id)

    def job(self, trigger: Any, **options: Any) -> Callable[[F], F]:
        """Declare a job for every app this extension initialises; returns ``func`` unchanged.

        Can be used before or after :meth:`init_app`. The job runs inside the app's
        ``app_context()``, so ``current_app``, ``g`` and Flask-SQLAlchemy sessions work.

        :param trigger: a cron string, ``timedelta`` or trigger
        :param options: :meth:`~scheduler.Scheduler.add_job` options (``id``, ``retries``, ...)
        """

        def decorator(func: F) -> F:
            spec = _JobSpec(func, trigger, dict(options))
            for state in list(self._states):
                self._add(state, spec)
            self._jobs.append(spec)
            return func

        return decorator

    def add_job(self, func: Callable[..., Any], trigger: Any, **options: Any) -> None:
        """Non-decorator form of :meth:`job`."""
        self.job(trigger, **options)(func)

    def task(self, func: F) -> F:
        """Allow ``func`` in jobs added at run time, on every app's scheduler (see
        :meth:`scheduler.Scheduler.task` and docs/security.md); returns it unchanged.

        :raises InvalidJob: a function other processes could not import by name
        """
        from .._refs import ref_of

        ref_of(func)  # refused here, at the decorator, rather than at init_app
        for state in list(self._states):
            state.scheduler.task(func)
        self._tasks.append(func)
        return func

    # -- access ---------------------------------------------------------------------------

    def _state(self, app: Flask | None) -> _AppState:
        if app is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            state = app.extensions[EXTENSION_KEY]
        except KeyError:
            raise ConfigurationError(
                f"the scheduler extension is not initialised on {app!r}; call init_app(app)"
            ) from None
        return state  # type: ignore[no-any-return]

    def get_scheduler(self, app: Flask | None = None) -> Scheduler:
        """The :class:`~scheduler.Scheduler` of ``app`` (default: ``current_app``)."""
        return self._state(app).scheduler

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler of ``current_app`` (needs an app context)."""
        return self.get_scheduler()

    def start(self, app: Flask | None = None) -> None:
        """Start the app's scheduler if it is not running.

        :raises ConfigurationError: under uWSGI without ``enable-threads``
        """
        sched = self.get_scheduler(app)
        if sched.running:
            return
        check_uwsgi_threads()
        sched.start()

    def shutdown(self, app: Flask | None = None, wait: bool = True) -> bool:
        """Shut the app's scheduler down; see :meth:`scheduler.Scheduler.shutdown`."""
        sched = self.get_scheduler(app)
        if not sched.running:
            return True
        return bool(sched.shutdown(wait=wait))


#: Another name for :class:`FlaskScheduler`, in the ``Flask-Foo``/``Foo`` naming habit.
SchedulerExtension = FlaskScheduler


# -- flask scheduler ... -----------------------------------------------------------------------


def _current_state() -> _AppState:
    try:
        return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
    except KeyError:
        raise click.ClickException(
            "the scheduler extension is not initialised on this app"
        ) from None


def _health_url(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.startswith("/")):
        raise ConfigurationError(
            f"{name} must be None (no route) or a path starting with '/', such as "
            f"'/healthz/scheduler', got {value!r}"
        )


#: the settings only this integration has
_FLASK_SETTINGS = {"health_url": _health_url, **DASHBOARD_SETTINGS}


def _health_view() -> Any:
    """``SCHEDULER_HEALTH_URL``: the health as JSON, 200 when ok, 503 when not."""
    from flask import jsonify

    from .._probe import health_of

    health = health_of(_current_state().scheduler)
    response = jsonify(health.to_dict())
    response.status_code = 200 if health.ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _make_cli() -> AppGroup:
    group = AppGroup("scheduler", help="Run and inspect the app's scheduler.")

    @group.command("run")
    def run_command() -> None:
        """Run the scheduler in this process until SIGTERM or SIGINT.

        The recommended production set-up: one such process beside the web workers, with
        SCHEDULER_AUTOSTART = False for the web app. Exits 0 after a graceful shutdown, 1 when
        a job was still running at the shutdown timeout.
        """
        from ..cli import has_level_handler

        state = _current_state()
        lib = logging.getLogger("scheduler")
        if not has_level_handler(lib):
            # Flask's own handler only serves app.logger; without this the process is silent.
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
            )
        check_uwsgi_threads()
        click.echo(f"running the scheduler of {current_app.name}; stop with Ctrl+C or SIGTERM",
                   err=True)
        from ..cli import run_until_signal

        if run_until_signal(state.scheduler) is False:
            sys.exit(1)

    @group.command("list")
    def list_command() -> None:
        """List jobs with their trigger, next run (in the job's zone) and last outcome."""
        from ..cli import format_jobs

        click.echo(format_jobs(_current_state().scheduler), nl=False)

    @group.command("run-job")
    @click.argument("job_id")
    def run_job_command(job_id: str) -> None:
        """Run one job now, in this process, and print its outcome."""
        from ..cli import run_job_now

        try:
            code = run_job_now(
                _current_state().scheduler,
                job_id,
                click.echo,
                lambda text: click.echo(text, err=True, nl=False),
            )
        except JobNotFound as exc:
            raise click.ClickException(str(exc)) from None
        if code:
            sys.exit(code)

    return group
