"""gunicorn configuration: 4 workers sharing one SQLite store, so each fire runs once.

    SCHEDULER_STORE=sqlite:////var/lib/myapp/scheduler.db \\
        gunicorn -c examples/gunicorn.conf.py 'examples.flask_app.app:create_app()'

How the scheduler behaves under gunicorn:

* **Without --preload** (the default): every worker imports the app, so every worker starts
  its own scheduler. With a shared store (SQLite on one host, PostgreSQL or Redis across
  hosts) they all compute the same fire times and each fire is claimed by exactly one of
  them. With the in-memory store every worker would run every job: don't.
* **With --preload**: the master imports the app and starts the scheduler before it forks.
  Threads do not survive fork(); the library notices (``os.register_at_fork``) and restarts
  the scheduler in each worker when the store is shared (inherited store connections are
  dropped without being closed, so the master's session stays intact). With the in-memory
  store the workers do not run jobs (they log why) and the master keeps running them.
* Worker restarts (``max_requests``, timeouts, HUP) are safe with a shared store: a run
  that was cut off is recorded as lost when its lease expires; nothing runs twice.
* Better still for production: web workers with ``SCHEDULER_AUTOSTART = False`` and one
  ``flask scheduler run`` (or ``manage.py runscheduler``) process beside them.

uWSGI: start it with ``--enable-threads`` (or ``threads = N``); without it the integrations
refuse to start the scheduler, since its threads would never run.
"""

from __future__ import annotations

import logging
import os

# Two lines that make the scheduler audible in every worker: gunicorn configures only its own
# loggers, so without a handler the `scheduler` logger's INFO lines (one "scheduler started:
# instance host:pid:..., N jobs, store ..., zone ..." per worker, then each run) go nowhere.
logging.basicConfig(format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
logging.getLogger("scheduler").setLevel(logging.INFO)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# The scheduler runs in threads beside the request handlers: the sync worker is fine.
worker_class = "sync"
# A worker stuck in a request is killed after this; scheduler jobs run in their own threads
# and do not hold the worker's heartbeat, so long jobs do not trigger it.
timeout = 30
# How long workers get to finish after SIGTERM: at least the scheduler's shutdown_timeout, so
# running jobs can finish (they are asked to stop through current_job().cancel_event).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "35"))
preload_app = os.environ.get("GUNICORN_PRELOAD", "") == "1"

# The store every worker shares. The Flask example reads SCHEDULER_STORE from the environment.
raw_env = [
    "SCHEDULER_STORE=" + os.environ.get("SCHEDULER_STORE", "sqlite:///scheduler.db"),
]
