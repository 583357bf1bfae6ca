"""What a newcomer sees first (#9): the start-up log line, ``run_forever()``'s logging,
and ``next_run_time`` before ``start()``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scheduler import Interval, Scheduler
from scheduler.stores._url import mask_url
from scheduler.testing import VirtualClock, settle
from tests.core_support import START, Calls

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime.fromisoformat(START)
BRATISLAVA = ZoneInfo("Europe/Bratislava")
HANG_GUARD = 60.0


def noop() -> None:
    """A module-level job (durable stores need an importable function)."""


# -- the start-up line -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@db/x", "postgresql://app:***@db/x"),
        ("postgresql://app:p%40ss@db:5432/x?sslmode=require", "postgresql://app:***@db:5432/x?sslmode=require"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql:///x?host=/run/pg&password=abc", "postgresql:///x?host=/run/pg&password=***"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("sqlite:////var/lib/app/jobs.db", "sqlite:////var/lib/app/jobs.db"),
    ],
)  # fmt: skip
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_start_logs_instance_store_jobs_and_zone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sched = Scheduler(timezone="Europe/Bratislava", store=f"sqlite:///{tmp_path}/jobs.db")
    sched.add_job(noop, "0 3 * * *")
    with caplog.at_level(logging.INFO, logger="scheduler"):
        sched.start()
        sched.shutdown()
    [line] = [r for r in caplog.records if r.getMessage().startswith("scheduler started")]
    message = line.getMessage()
    assert str(sched.owner) in message
    assert "1 jobs" in message
    assert f"SQLiteStore sqlite:///{tmp_path}/jobs.db" in message or (
        f"SQLiteStore {tmp_path}/jobs.db" in message
    )
    assert "zone Europe/Bratislava" in message
    assert line.instance == str(sched.owner)  # type: ignore[attr-defined]
    assert line.jobs == 1  # type: ignore[attr-defined]
    assert line.timezone == "Europe/Bratislava"  # type: ignore[attr-defined]


def test_start_line_masks_the_store_password(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("psycopg")
    from scheduler.stores._url import describe_store
    from scheduler.stores.postgresql import PostgreSQLStore

    store = PostgreSQLStore("postgresql://app:hunter2@db.internal/app")
    text = describe_store(store)
    assert "hunter2" not in text
    assert text == "PostgreSQLStore postgresql://app:***@db.internal/app"


RUN_FOREVER = textwrap.dedent(
    """
    import logging, sys, threading
    from scheduler import Scheduler

    sched = Scheduler(timezone="Europe/Bratislava")
    sched.every(10).minutes.do(print)
    if sys.argv[1] == "configured":
        logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    threading.Timer(0.2, sched.shutdown).start()   # not a wait: it only ends the script
    sched.run_forever(configure_logging=sys.argv[1] != "opt-out")
    """
)


@pytest.mark.parametrize(
    ("mode", "visible"),
    [("default", True), ("opt-out", False), ("configured", False)],
)
def test_run_forever_makes_the_start_visible_unless_logging_is_configured(
    tmp_path: Path, mode: str, visible: bool
) -> None:
    """Like ``scheduler run``: a stderr handler at INFO only when no handler would take the
    ``scheduler`` logger's records; ``configure_logging=False`` leaves logging alone."""
    script = tmp_path / "quick.py"
    script.write_text(RUN_FOREVER)
    done = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=HANG_GUARD, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ("scheduler started: instance" in done.stderr) is visible, done.stderr
    assert "scheduler started" not in done.stdout  # the user's WARNING handler stays silent


# -- next_run_time before start() --------------------------------------------------------------
def test_next_run_time_before_start_is_the_first_fire_after_now() -> None:
    clock = VirtualClock(START)  # 2026-03-02 12:00 UTC
    sched = Scheduler(timezone="Europe/Bratislava", clock=clock)
    cron = sched.add_job(noop, "0 3 * * *", id="cron")
    interval = sched.add_job(noop, Interval(minutes=10), id="interval")
    assert cron.next_run_time == datetime(2026, 3, 3, 3, tzinfo=BRATISLAVA)
    assert cron.next_run_time.tzinfo == BRATISLAVA  # type: ignore[union-attr]
    assert interval.next_run_time == T0 + timedelta(minutes=10)
    assert "next=2026-03-03T03:00:00+01:00" in repr(cron)
    # ... and start places exactly that fire
    with sched:
        assert cron.next_run_time == datetime(2026, 3, 3, 3, tzinfo=BRATISLAVA)
        assert interval.next_run_time == T0 + timedelta(minutes=10)


def test_next_run_time_before_start_paused_or_finished_is_none() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    job = sched.add_job(noop, "0 3 * * *", id="p")
    sched.pause_job("p")
    assert job.next_run_time is None


def test_next_run_time_before_start_follows_the_stored_last_fire(tmp_path: Path) -> None:
    """With a durable store, start catches up from the last claimed fire: so does the
    preview (here 13:00, overdue while the process was down)."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    clock = VirtualClock(START)
    first = Scheduler(store=url, clock=clock)
    first.add_job(noop, Interval(minutes=30), id="half-hourly")
    with first:
        clock.advance(minutes=30, scheduler=first)  # fires 12:30, claims it
        settle(first)
    clock.advance(minutes=50)  # the process is down through 13:00 and 13:20 passes

    second = Scheduler(store=url, clock=clock)
    job = second.add_job(noop, Interval(minutes=30), id="half-hourly")
    expected = T0 + timedelta(hours=1)  # after the stored 12:30: 13:00, now overdue
    assert job.next_run_time == expected
    assert second.state == "stopped"
    with second:
        # (next_run_time is not read here: the ticker may already have judged 13:00)
        settle(second)
    # start placed the preview's fire first, and it was judged by the catch-up rules
    # (20 minutes late, past the grace: missed)
    runs = {run.scheduled_time: run.outcome for run in second.get_runs("half-hourly")}
    assert runs == {T0 + timedelta(minutes=30): "succeeded", expected: "missed"}


def test_next_run_time_before_start_with_the_memory_store_counts_from_now() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    job = sched.add_job(Calls(), timedelta(hours=1), id="hourly")
    clock.advance(minutes=25)
    assert job.next_run_time == T0 + timedelta(minutes=25, hours=1)


def test_an_unreachable_store_before_start_is_tried_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Previews fall back to "after now" and do not wait for a dead store on every job."""
    from scheduler.exceptions import StoreUnavailable
    from scheduler.stores.memory import MemoryStore

    class Down(MemoryStore):
        durable = True
        opens = 0

        def open(self) -> None:
            self.opens += 1
            raise StoreUnavailable("connection refused")

    store = Down()
    clock = VirtualClock(START)
    sched = Scheduler(store=store, clock=clock)
    jobs = [sched.add_job(noop, "0 3 * * *", id=f"j{i}") for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="scheduler"):
        assert [job.id for job in sched.get_jobs()] == ["j0", "j1", "j2"]
        assert all(job.next_run_time == datetime(2026, 3, 3, 3, tzinfo=ZoneInfo("UTC"))
                   for job in jobs)  # fmt: skip
    assert store.opens == 1
    assert [r.getMessage() for r in caplog.records] == [
        "store unavailable before start (connection refused): listing without its dynamic "
        "jobs and last fires"
    ]
