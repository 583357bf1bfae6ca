"""The jobs the dashboard's browser tests and screenshots show, run by a real scheduler in a
process of its own (:mod:`tests.browser.worker`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from scheduler import Cron, Job, Scheduler

# Runs as script if a page ever renders it as markup: sets a window variable (the <script>)
# or opens a dialog (the <img> handler). The tests assert neither happened and that the text
# shows as typed.
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2; alert(1)">'

NIGHTLY = "nightly-report"
PULSE = "heartbeat"  # every second: the worker's progress, a clock the tests can read
SYNC = "sync-inventory"  # every second: paused and resumed by the tests
ON_DEMAND = "rebuild-search-index"  # once a year: run now by the tests
HOSTILE = "xss-job"  # name and error text are the XSS payload


def nightly_report() -> str:
    return "42 rows"


def heartbeat() -> None:
    return None


def sync_inventory() -> str:
    return "in sync"


def rebuild_search_index() -> str:
    return "index rebuilt"


def hostile() -> None:
    raise RuntimeError(XSS)


#: (function, trigger, add_job options) of each job: the worker, the Flask app and the Django
#: project declare the same jobs, as a web process and its scheduler process share code
JOBS: list[tuple[Callable[..., Any], Any, dict[str, Any]]] = [
    (nightly_report, Cron("30 2 * * *", timezone="Europe/Bratislava"),
     {"id": NIGHTLY, "name": "Nightly report", "tags": ("reports",)}),
    (heartbeat, timedelta(seconds=1), {"id": PULSE, "name": "Heartbeat"}),
    (sync_inventory, timedelta(seconds=1),
     {"id": SYNC, "name": "Sync inventory", "tags": ("inventory",)}),
    (rebuild_search_index, "0 0 1 1 *",
     {"id": ON_DEMAND, "name": "Rebuild search index", "tags": ("search",)}),
    (hostile, timedelta(seconds=2), {"id": HOSTILE, "name": XSS, "tags": ("xss",)}),
]


def add_jobs(sched: Scheduler) -> list[Job]:
    return [sched.add_job(func, trigger, **options) for func, trigger, options in JOBS]
