"""``python -m scheduler run tests.reliability.cli_target:sched`` (scenario 22).

The store, prefix and files come from the environment the test sets.
"""

from __future__ import annotations

import os

from scheduler import Interval, Scheduler
from scheduler.stores import from_url

from . import jobs

sched = Scheduler(
    store=from_url(os.environ["REL_URL"], prefix=os.environ["REL_PREFIX"]),
    lease_seconds=1.0,
    tick=0.1,
    shutdown_timeout=10,
)
sched.add_job(
    jobs.slow,
    Interval(seconds=0.5),
    id="cli-slow",
    args=[os.environ["REL_OUT"], 1.5, os.environ["REL_MARKER"]],
)
