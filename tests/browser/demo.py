"""The demo data set of the dashboard's screenshots (docs/dashboard-*.png): six ordinary jobs
and a day of their history, every outcome included; one job paused.

:func:`seed` writes the history through the store's own API (register, claim, start,
finish) with a virtual clock bound to the store, so each run has the times and outcome of a
real one (durations, lateness, a traceback) without waiting a day. A real scheduler process
then runs the same jobs (``python -m tests.browser.worker --demo URL``), so the pages show a
live instance too, and a run requested by hand (:data:`REQUESTED`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from scheduler import Cron, Job, Scheduler
from scheduler.stores import ClaimStatus, FireKey, Owner, RunOutcome, Store
from scheduler.testing import VirtualClock

ZONE = "Europe/Bratislava"
TRACEBACK = """Traceback (most recent call last):
  File "/srv/shop/jobs.py", line 88, in sync_inventory
    stock = warehouse.fetch_stock(since=last_sync)
  File "/srv/shop/warehouse.py", line 41, in fetch_stock
    response.raise_for_status()
requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: https://wms.example.com/api/stock"""


def nightly_report() -> str:
    return "report sent"


def sync_inventory() -> str:
    return "in sync"


def send_reminders() -> str:
    return "12 reminders sent"


def refresh_exchange_rates() -> str:
    return "rates refreshed"


def purge_sessions() -> str:
    return "purged"


def rebuild_search_index() -> str:
    return "index rebuilt"


DEMO_JOBS: list[tuple[Callable[..., Any], Any, dict[str, Any]]] = [
    (nightly_report, Cron("30 2 * * *", timezone=ZONE),
     {"id": "nightly-report", "name": "Nightly sales report", "tags": ("reports",)}),
    (sync_inventory, timedelta(minutes=10),
     {"id": "sync-inventory", "name": "Sync inventory from the warehouse",
      "tags": ("inventory",), "timeout": 120}),
    (send_reminders, Cron("0 9 * * 1-5", timezone=ZONE),
     {"id": "send-reminders", "name": "Send payment reminders", "tags": ("billing",)}),
    (refresh_exchange_rates, timedelta(minutes=30),
     {"id": "refresh-exchange-rates", "name": "Refresh exchange rates", "tags": ("billing",)}),
    (purge_sessions, Cron("0 3 * * *", timezone="UTC"),
     {"id": "purge-sessions", "name": "Purge expired sessions"}),
    (rebuild_search_index, "0 4 * * 0",
     {"id": "rebuild-search-index", "name": "Rebuild the search index", "tags": ("search",)}),
]


#: the job the screenshots' operator runs by hand, and who they are
REQUESTED = ("rebuild-search-index", "alice")


def add_demo_jobs(sched: Scheduler) -> list[Job]:
    return [sched.add_job(func, trigger, **options) for func, trigger, options in DEMO_JOBS]


def seed(store: Store, now: datetime, *, hours: float = 24.0) -> None:
    """Register the demo jobs in ``store`` and record ``hours`` of their fires before
    ``now``. Deterministic (a fixed random seed). The store must be open; its clock is
    bound to a virtual one while this runs and to the real clock again afterwards."""
    rng = random.Random(13)
    planner = Scheduler(timezone=ZONE)
    jobs = add_demo_jobs(planner)
    owner = Owner("web-1", 4242, "demo")
    start = (now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    original = getattr(store, "clock", None)
    clock = VirtualClock(start)
    store.bind_clock(clock)
    try:
        # Registered at the start: the interval jobs' grid (their anchor) is on the hour, and
        # the scheduler process that registers them later keeps it (same definition).
        for job in jobs:
            # Without a store a job's fingerprint is a local token: compute the real one.
            definition = dataclasses.replace(job.get_definition(),
                                             precomputed_fingerprint=None)
            store.register(definition, owner=owner)
        fires: list[tuple[datetime, Job]] = []
        for job in jobs:
            trigger = job.trigger.anchored(start)
            when = trigger.next_after(start - timedelta(microseconds=1))
            while when is not None and when < now:
                fires.append((when, job))
                when = trigger.next_after(when)
        fires.sort(key=lambda f: f[0])
        for when, job in fires:
            _record(store, clock, owner, job, when, now, rng)
        store.set_paused("refresh-exchange-rates", True)  # an operator paused it
    finally:
        if original is not None:
            store.bind_clock(original)


def _record(store: Store, clock: VirtualClock, owner: Owner, job: Job, when: datetime,
            now: datetime, rng: random.Random) -> None:
    stored = store.get_job(job.id)
    assert stored is not None
    late = timedelta(seconds=rng.uniform(0.01, 0.4))
    outcome, error, took = RunOutcome.SUCCEEDED, None, rng.uniform(0.2, 3.0)
    roll = rng.random()
    if job.id == "sync-inventory":
        took = rng.uniform(4, 40)
        if roll < 0.08:
            outcome, error = RunOutcome.FAILED, TRACEBACK
        elif roll < 0.11:
            outcome, error, took = RunOutcome.TIMED_OUT, "timed out after 120 s", 120.0
        elif roll < 0.16:
            late = timedelta(seconds=rng.uniform(20, 90))  # a busy pool: it started late
    elif job.id == "refresh-exchange-rates" and roll < 0.1:
        outcome, error = RunOutcome.FAILED, "ValueError: the ECB feed had no rate for HUF"
    elif job.id == "refresh-exchange-rates" and roll < 0.14:
        outcome = RunOutcome.LOST  # its process was killed: the lease runs out
    elif job.id == "purge-sessions":
        outcome, error = RunOutcome.MISSED, "missed: no instance could start it within 60 s"
    clock.set(when + late)  # each run on its own: no queue behind the previous one
    if outcome is RunOutcome.MISSED:
        store.claim_missed(FireKey(job.id, when), fingerprint=stored.fingerprint, owner=owner,
                           reason=error or "")
        return
    claim = store.claim(FireKey(job.id, when), fingerprint=stored.fingerprint, owner=owner,
                        max_instances=1, lease_seconds=300)
    if claim.status is not ClaimStatus.CLAIMED:
        return
    store.mark_started(claim, attempt=1)
    if clock.now() + timedelta(seconds=took) > now:
        return  # still running at ``now``: claimed and started, no outcome yet
    if outcome is RunOutcome.LOST:
        clock.jump(400)  # past the lease: the next reap turns it LOST
        store.reap()
        return
    clock.jump(took)
    store.finish(claim, outcome=outcome, attempt=1, error=error,
                 result=None if error else repr(job.func()))
