"""Hand-made facts for rendering tests: jobs, runs and status at a fixed "now"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.dashboard import JobView, Page, StatusView
from scheduler.stores import InstanceInfo, RunOutcome, RunRecord
from scheduler.triggers.cron import Cron

BA = ZoneInfo("Europe/Bratislava")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)
XSS = "<script>alert(1)</script>"


def run(job_id: str = "backup", *, minutes_ago: float = 60, outcome: RunOutcome | None =
        RunOutcome.SUCCEEDED, took: float | None = 2.0, late: float = 0.0,
        error: str | None = None, **extra: Any) -> RunRecord:
    scheduled = NOW - timedelta(minutes=minutes_ago)
    started = None if took is None and outcome is not RunOutcome.FAILED else (
        scheduled + timedelta(seconds=late))
    finished = None if started is None or took is None else started + timedelta(seconds=took)
    return RunRecord(
        run_id=f"{job_id}@{scheduled.isoformat()}", job_id=job_id, scheduled_time=scheduled,
        outcome=outcome, started_at=started, finished_at=finished, error=error,
        owner="web-1:4242:abc", **extra,
    )


def job(job_id: str = "backup", **changes: Any) -> JobView:
    trigger = changes.pop("trigger", Cron("30 2 * * *", timezone=BA))
    values: dict[str, Any] = {
        "id": job_id, "name": "Nightly backup", "func_ref": "app.jobs:backup",
        "trigger": trigger, "timezone": BA,
        "next_fire": trigger.next_after(NOW).astimezone(BA) if trigger else None,
        "last_run": run(job_id), "tags": ("ops",), "options": {"max_instances": 1},
    }
    values.update(changes)
    return JobView(**values)


def status(**changes: Any) -> StatusView:
    values: dict[str, Any] = {
        "store": "SQLiteStore('/srv/jobs.db', prefix='scheduler_')", "reachable": True,
        "instances": [InstanceInfo(
            instance="web-1:4242:abc", host="web-1", pid=4242, version="0.1.0",
            started_at=NOW - timedelta(hours=3), last_heartbeat=NOW - timedelta(seconds=5),
            lease_expires=NOW + timedelta(seconds=25), running=("backup",))],
    }
    values.update(changes)
    return StatusView(**values)


def page(**changes: Any) -> Page:
    values: dict[str, Any] = {"now": NOW, "csrf_token": "tok123"}
    values.update(changes)
    return Page(**values)
