"""Discovered by the scheduler app's ready(), like admin.py."""

from __future__ import annotations

import os
from typing import Any

from django.db import connection

from scheduler import Interval, current_job
from scheduler.contrib.django import job

#: what the jobs did, for the in-process tests
calls: list[Any] = []


@job("0 3 * * *", id="nightly")
def nightly() -> str:
    calls.append("nightly")
    return "done"


@job("@daily", id="uses_db")
def uses_db() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    calls.append(("uses_db", value))
    return int(value)


if os.environ.get("SCHEDULER_TEST_SLOW_JOB"):

    @job(Interval(seconds=1), id="slow")
    def slow() -> None:
        print("started", flush=True)
        # Runs until shutdown asks it to stop: proves runscheduler waits for it.
        run = current_job()
        assert run is not None
        run.cancel_event.wait(60)
        print("finished", flush=True)


@job("@daily", id="uses_db_in_worker", executor="process")
def uses_db_in_worker() -> tuple[int, int]:
    """In a worker process: Django set up there, its own connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return int(value), os.getpid()
