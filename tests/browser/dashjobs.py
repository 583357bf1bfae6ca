"""The jobs the dashboard's browser tests and screenshots show, run by a real scheduler in a
process of its own (:mod:`tests.browser.worker`)."""

from __future__ import annotations

from datetime import timedelta

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


def add_jobs(sched: Scheduler) -> list[Job]:
    """The jobs of the tests' worker (fires every second or two, so that outcomes show up in
    seconds) and of the screenshots' demo data set."""
    return [
        sched.add_job(
            nightly_report, Cron("30 2 * * *", timezone="Europe/Bratislava"),
            id=NIGHTLY, name="Nightly report", tags=("reports",),
        ),
        sched.add_job(heartbeat, timedelta(seconds=1), id=PULSE, name="Heartbeat"),
        sched.add_job(
            sync_inventory, timedelta(seconds=1), id=SYNC, name="Sync inventory",
            tags=("inventory",),
        ),
        sched.add_job(
            rebuild_search_index, "0 0 1 1 *", id=ON_DEMAND, name="Rebuild search index",
            tags=("search",),
        ),
        sched.add_job(hostile, timedelta(seconds=2), id=HOSTILE, name=XSS, tags=("xss",)),
    ]
