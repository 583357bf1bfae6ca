"""A minimal Flask app using the scheduler extension, with an application factory.

Run it::

    pip install "threadcron[flask]"
    flask --app examples.flask_app.app run --debug     # starts once, in the reloader's child
    flask --app examples.flask_app.app scheduler list
    flask --app examples.flask_app.app scheduler run-job examples.flask_app.app:count_visits

In production, with gunicorn (4 workers, one SQLite store, each fire once)::

    gunicorn -c examples/gunicorn.conf.py 'examples.flask_app.app:create_app()'

or keep the web workers free of jobs and run them in a process of their own::

    SCHEDULER_AUTOSTART=0 gunicorn 'examples.flask_app.app:create_app()'
    flask --app examples.flask_app.app scheduler run
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, current_app

from scheduler import Interval, current_job
from scheduler.contrib.flask import FlaskScheduler

scheduler = FlaskScheduler()
log = logging.getLogger(__name__)

# A stand-in for the app's database.
VISITS: dict[str, int] = {"total": 0, "reported": 0}


@scheduler.job(Interval(minutes=1))
def count_visits() -> int:
    """Every minute; runs inside app.app_context(), so current_app works."""
    new = VISITS["total"] - VISITS["reported"]
    VISITS["reported"] = VISITS["total"]
    current_app.logger.info("%d new visits in the last minute", new)
    return new


@scheduler.job("0 3 * * *", retries=2, timeout=600)
def nightly_cleanup() -> None:
    """03:00 in SCHEDULER_TIMEZONE, daylight-saving safe; stops early on shutdown."""
    run = current_job()
    for batch in range(100):
        if run is not None and run.cancel_event.is_set():
            log.info("cleanup interrupted at batch %d; the next run continues", batch)
            return
        # ... delete one batch of expired rows ...


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SCHEDULER_TIMEZONE=os.environ.get("SCHEDULER_TIMEZONE", "UTC"),
        # In memory is fine for one process; several workers need a shared store.
        SCHEDULER_STORE=os.environ.get("SCHEDULER_STORE") or None,
        SCHEDULER_AUTOSTART=os.environ.get("SCHEDULER_AUTOSTART", "1") != "0",
        # Jobs added at run time (stored, run by every worker) may only call functions
        # from these modules (or registered with @sched.task): docs/security.md.
        SCHEDULER_ALLOWED_MODULES=[__name__],
    )
    app.config.update(config or {})
    scheduler.init_app(app)

    @app.get("/")
    def index() -> dict[str, Any]:
        VISITS["total"] += 1
        jobs = scheduler.scheduler.get_jobs()
        return {
            "visits": VISITS["total"],
            "jobs": {job.id: str(job.next_run_time) for job in jobs},
        }

    return app
