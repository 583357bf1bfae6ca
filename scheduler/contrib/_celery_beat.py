"""``scheduler celery-beat``: run a Celery app's ``beat_schedule`` with this scheduler.

The entries become jobs (:func:`scheduler.contrib.celery.beat_jobs`), the broker is checked
before anything is sent, and the process runs until SIGTERM or SIGINT. Run several of these
on a shared store and each fire is sent once.

Threads and state: none of its own; the scheduler it builds runs the sends.
"""

from __future__ import annotations

import logging
from typing import Any

from ..exceptions import ConfigurationError
from .celery import _require_celery, app_zone, beat_jobs, load_app

__all__ = ["check_broker", "run_beat", "unknown_tasks"]

log = logging.getLogger("scheduler.contrib.celery")


def unknown_tasks(app: Any) -> list[tuple[str, str]]:
    """``(entry, task)`` of the entries naming a task this app does not register (after
    importing the app's task modules, as a worker does)."""
    try:
        app.loader.import_default_modules()
    except Exception as exc:  # the worker will say; the beat only warns
        log.warning("importing the Celery app's task modules failed: %s", exc)
    known = set(app.tasks)
    return [
        (str(entry), spec["task"])
        for entry, spec in (app.conf.beat_schedule or {}).items()
        if spec.get("task") not in known
    ]


def check_broker(app: Any, timeout: float = 5.0) -> None:
    """:raises ConfigurationError: the broker cannot be reached (naming it, password masked)"""
    conn = app.connection_for_write()
    try:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=timeout
        )
    except Exception as exc:
        raise ConfigurationError(
            f"cannot reach the Celery broker {conn.as_uri()} ({type(exc).__name__}: {exc}); "
            f"check broker_url and that the broker is running"
        ) from None
    finally:
        conn.release()


def run_beat(app_spec: str, *, store: str | None = None, prefix: str | None = None) -> int:
    """``scheduler celery-beat``: run the beat of ``app_spec`` until SIGTERM or SIGINT.

    :returns: 0 after a clean shutdown, 1 when a send was still running at the timeout
    :raises ConfigurationError: no such app, a bad entry, an unreachable broker (nothing sent)
    """
    _require_celery()
    from ..scheduler import Scheduler
    from ..stores import from_url

    app = load_app(app_spec)
    backend = from_url(store, prefix=prefix) if prefix else from_url(store)
    sched = Scheduler(timezone=app_zone(app), store=backend)
    jobs = beat_jobs(sched, app, app_spec.strip())
    check_broker(app)
    for entry, task in unknown_tasks(app):
        log.warning(
            "beat_schedule entry %r names task %r, which the app %s does not register; it is "
            "sent anyway (send_task cannot check it: a worker that lacks it will drop it)",
            entry,
            task,
            app_spec,
            extra={"entry": entry, "task": task},
        )
    if not backend.shared:
        log.warning(
            "celery beat with the memory store: run only one of these (pass --store "
            "sqlite:///beat.db or postgresql://... to run replicas, each fire sent once)"
        )
    log.info("celery beat for %s: %d entries", app_spec, len(jobs), extra={"entries": len(jobs)})
    return 0 if sched.run_forever() else 1
