"""``scheduler health tests.health_target:sched`` (tests/test_cli_health.py): an app whose
store URL comes from the environment, as a real app's config would give it."""

from __future__ import annotations

import os

from scheduler import Scheduler

sched = Scheduler(store=os.environ["HEALTH_STORE"])
