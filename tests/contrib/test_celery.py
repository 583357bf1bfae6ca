"""Celery hand-off: beat_schedule conversion, bad input, and the send against a real Redis
broker (no worker here: the worker and replica tests are in test_handoff_processes.py)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("celery")

import redis
from celery import Celery
from celery.schedules import crontab, schedule, solar

from scheduler import Scheduler, cli
from scheduler.contrib._celery_schedules import BeatEntryError, to_trigger
from scheduler.contrib._handoff import fire_uuid
from scheduler.contrib.celery import _apps, beat_jobs
from scheduler.exceptions import InvalidJob
from scheduler.stores import RunOutcome
from scheduler.testing import VirtualClock, settle
from scheduler.triggers.interval import Interval
from tests.services import require, unique_prefix

UTC = timezone.utc
BRATISLAVA = ZoneInfo("Europe/Bratislava")
T0 = datetime(2026, 3, 2, 12, 7, 30, tzinfo=UTC)  # a Monday; 13:07:30 in Bratislava


def fires(trigger: Any, after: datetime, n: int) -> list[str]:
    out = []
    for _ in range(n):
        after = trigger.next_after(after)
        out.append(after.isoformat())
    return out


# -- crontab: Celery's semantics, checked against fire times worked out by hand -------------


@pytest.mark.parametrize(
    ("sched", "expected"),
    [
        pytest.param(crontab(minute="*/20"), ["13:20", "13:40", "14:00"], id="every-20-min"),
        pytest.param(crontab(0, "*/5"), ["15:00", "20:00", "00:00"], id="hour-step"),
        pytest.param(crontab(30, 7, day_of_week="sun"), ["07:30 03-08"], id="sunday-is-0"),
        pytest.param(crontab(30, 7, day_of_week=0), ["07:30 03-08"], id="dow-int-0"),
        pytest.param(crontab(0, 9, day_of_week="mon-fri"), ["09:00 03-03"], id="names-range"),
        # Celery: BOTH day fields must match: the first Monday of the month, not "the 1st-7th
        # or any Monday" (cron's reading).
        pytest.param(crontab(0, 0, day_of_month="1-7", day_of_week=1), ["00:00 04-06"],
                     id="first-monday"),
        pytest.param(crontab(0, 0, day_of_month="22-31", day_of_week="fri"),
                     ["00:00 03-27", "00:00 04-24"], id="last-friday-weeks"),
        pytest.param(crontab(0, 0, day_of_month=1, month_of_year="*/3"), ["00:00 04-01"],
                     id="quarterly"),
        pytest.param(crontab(15, 8, day_of_month={10, 20}), ["08:15 03-10", "08:15 03-20"],
                     id="set-of-days"),
    ],
)
def test_crontab_follows_celery_fields(sched: Any, expected: list[str]) -> None:
    trigger = to_trigger("e", sched, False, BRATISLAVA)
    got = fires(trigger, T0, len(expected))
    want_fmt = ["%H:%M" if " " not in e else "%H:%M %m-%d" for e in expected]
    assert [datetime.fromisoformat(g).strftime(f) for g, f in zip(got, want_fmt, strict=True)] \
        == expected


def test_crontab_reads_the_app_zone_and_cron_dst_rules() -> None:
    # 02:30 does not exist in Bratislava on 2026-03-29: a fixed-time job fires at the jump.
    trigger = to_trigger("e", crontab(30, 2), False, BRATISLAVA)
    got = trigger.next_after(datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert got.isoformat() == "2026-03-29T03:00:00+02:00"


def test_both_day_fields_that_are_not_whole_weeks_are_refused_naming_the_entry() -> None:
    with pytest.raises(BeatEntryError) as info:
        to_trigger("payday", crontab(0, 0, day_of_month="2-9", day_of_week=1), False, UTC)
    assert info.value.entry == "payday"
    assert "both day_of_month" in str(info.value)


def test_intervals_numbers_timedeltas_and_schedules() -> None:
    assert to_trigger("e", 30, False, UTC) == Interval(seconds=30)
    assert to_trigger("e", 2.5, False, UTC) == Interval(seconds=2.5)
    assert to_trigger("e", timedelta(minutes=5), False, UTC) == Interval(minutes=5)
    assert to_trigger("e", schedule(timedelta(hours=2)), False, UTC) == Interval(hours=2)


def test_relative_aligns_fires_on_whole_units() -> None:
    every_10 = to_trigger("e", timedelta(minutes=10), True, UTC)
    assert fires(every_10, T0, 2) == ["2026-03-02T12:10:00+00:00", "2026-03-02T12:20:00+00:00"]
    hourly = to_trigger("e", schedule(timedelta(hours=1), relative=True), False, BRATISLAVA)
    assert fires(hourly, T0, 1) == ["2026-03-02T13:00:00+00:00"]
    daily = to_trigger("e", timedelta(days=1), True, BRATISLAVA)
    assert fires(daily, T0, 1) == ["2026-03-03T00:00:00+01:00"]  # local midnight


def test_solar_and_unknown_types_are_refused_naming_the_entry() -> None:
    sun = solar.__new__(solar)  # its constructor needs the optional 'ephem' package
    sun.event, sun.lat, sun.lon = "sunset", 48.1, 17.1
    with pytest.raises(BeatEntryError, match=r"'sunset-report'.*solar"):
        to_trigger("sunset-report", sun, False, UTC)
    with pytest.raises(BeatEntryError, match=r"'cron-text'.*unknown schedule type builtins\.str"):
        to_trigger("cron-text", "*/5 * * * *", False, UTC)
    with pytest.raises(BeatEntryError, match=r"'flag'.*unknown schedule type builtins\.bool"):
        to_trigger("flag", True, False, UTC)


# -- beat_schedule entries ------------------------------------------------------------------


def _app(**conf: Any) -> Celery:
    app = Celery("t", set_as_current=False)
    app.conf.update(broker_url="memory://", **conf)
    return app


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"task": "t.a", "schedule": 10, "option": {}}, "unknown key 'option'; did you mean"),
        ({"schedule": 10}, "has no 'task'"),
        ({"task": "t.a"}, "has no 'schedule'"),
        ({"task": "t.a", "schedule": 10, "args": [datetime(2026, 1, 1)]}, r"args\[0\] is of type"),
        ({"task": "t.a", "schedule": 10, "options": {"task_id": "x"}}, "task_id"),
        ({"task": "t.a", "schedule": {"every": 10}}, "unknown schedule type builtins.dict"),
    ],
)
def test_a_bad_entry_adds_nothing_and_names_the_entry(entry: dict[str, Any], message: str) -> None:
    app = _app(beat_schedule={"good": {"task": "t.ok", "schedule": 5}, "broken": entry})
    sched = Scheduler()
    with pytest.raises(BeatEntryError, match=message) as info:
        beat_jobs(sched, app, "x:app")
    assert info.value.entry == "broken"
    assert sched.get_jobs() == []  # the good entry was not added either: nothing is sent


def test_entries_become_jobs_named_after_the_entries() -> None:
    app = _app(
        timezone="Europe/Bratislava",
        beat_schedule={
            "morning": {"task": "t.report", "schedule": crontab(0, 7), "args": [1],
                        "kwargs": {"k": "v"}, "options": {"queue": "reports", "priority": 3}},
        },
    )
    sched = Scheduler()
    (job,) = beat_jobs(sched, app, "x:app")
    assert job.id == "morning" and job.name == "t.report"
    assert job.trigger.describe() == "cron '0 7 * * *' (Europe/Bratislava)"
    assert job.kwargs == {
        "task": "t.report", "app": "x:app", "args": [1], "kwargs": {"k": "v"},
        "options": {"queue": "reports", "priority": 3}, "follow_results": False,
    }


def test_follow_results_needs_a_result_backend() -> None:
    with pytest.raises(InvalidJob, match="result backend"):
        Scheduler().add_celery_task("t.a", timedelta(seconds=5), app=_app(), follow_results=True)


# -- the send, against a real Redis broker ----------------------------------------------------


@pytest.fixture
def broker() -> Iterator[tuple[Celery, redis.Redis, str]]:
    url = require("redis")
    prefix = unique_prefix()
    app = Celery(f"send{prefix}", set_as_current=False)
    app.conf.update(
        broker_url=url,
        broker_transport_options={"global_keyprefix": prefix},
        task_default_queue=f"{prefix}q",
        broker_connection_retry_on_startup=False,
    )
    client = redis.Redis.from_url(url)
    _apps[f"celery-app:{app.main}"] = app  # what add_celery_task(app=app) would register
    try:
        yield app, client, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def test_each_fire_is_sent_once_with_its_fire_task_id(broker: Any) -> None:
    app, client, prefix = broker
    clock = VirtualClock("2026-01-01T00:00:00+00:00")
    sched = Scheduler(clock=clock)
    sched.add_celery_task(
        "t.report", Interval(seconds=60, start=clock.now()), args=[7], app=app, id="report",
        options={"priority": 3},
    )
    with sched:
        clock.advance(seconds=120, scheduler=sched)
        settle(sched)
    runs = sorted(sched.get_runs("report"), key=lambda r: r.scheduled_time)
    assert [r.outcome for r in runs] == [RunOutcome.SUCCEEDED] * 2  # at +60 s and +120 s
    ids = [fire_uuid("report", r.scheduled_time) for r in runs]
    assert [r.result for r in runs] == ids  # the record shows the task id itself
    # priority 3 puts them in the queue's priority list (kombu names it queue + sep + 3)
    queues = [k for k in client.scan_iter(match=f"{prefix}{prefix}q*") if client.type(k) == b"list"]
    messages = [json.loads(m) for k in queues for m in client.lrange(k, 0, -1)]
    assert sorted(m["headers"]["id"] for m in messages) == sorted(ids)
    assert {m["headers"]["task"] for m in messages} == {"t.report"}
    assert all(m["headers"]["celery_beat_task"] for m in messages)


def test_a_refused_send_fails_the_run_and_retries() -> None:
    app = Celery("refused", set_as_current=False)
    app.conf.update(broker_url="redis://127.0.0.1:1/0", broker_connection_retry_on_startup=False)
    clock = VirtualClock("2026-01-01T00:00:00+00:00")
    sched = Scheduler(clock=clock)
    sched.add_celery_task(
        "t.x", Interval(seconds=60, start=clock.now()), app=app, id="x", retries=1,
        options={"retry": False},
    )
    with sched:
        clock.advance(seconds=60, scheduler=sched)  # the first fire
        clock.advance(seconds=5, scheduler=sched)  # past the 1 s backoff
        settle(sched)
    (run,) = sched.get_runs("x")
    assert (run.outcome, run.attempt) == (RunOutcome.FAILED, 2)
    assert "Connection" in (run.error or "") or "refused" in (run.error or "")


def test_cli_refuses_bad_input_before_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "badbeat.py").write_text(textwrap.dedent("""
        from celery import Celery
        from celery.schedules import crontab
        app = Celery("badbeat", set_as_current=False, broker="redis://127.0.0.1:1/0")
        app.conf.beat_schedule = {"weird": {"task": "t.a", "schedule": "every minute"}}
        ok = Celery("okbeat", set_as_current=False, broker="redis://127.0.0.1:1/0")
        ok.conf.broker_connection_retry_on_startup = False
        ok.conf.beat_schedule = {"fine": {"task": "t.a", "schedule": crontab()}}
        days = Celery("days", set_as_current=False, broker="redis://127.0.0.1:1/0")
        days.conf.beat_schedule = {
            "payday": {"task": "t.a", "schedule": crontab(0, 0, "mon", "2-9")}}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = [
        (["badbeat:app"], "beat_schedule entry 'weird': unknown schedule type"),
        (["badbeat:days"], "beat_schedule entry 'payday': crontab restricts both"),
        (["nosuchmodule:app"], "cannot import the Celery app module 'nosuchmodule'"),
        (["badbeat:nope"], "module 'badbeat' has no attribute 'nope'"),
        (["badbeat:crontab"], "badbeat:crontab is a type, not a Celery app"),
        (["badbeat:ok"], "cannot reach the Celery broker redis://:**@127.0.0.1:1/0"),
    ]
    for argv, message in cases:
        code = cli.main(["celery-beat", *argv, "--log-level", "ERROR"])
        err = capsys.readouterr().err
        assert (code, message in err) == (2, True), (argv, err)


@pytest.mark.parametrize(
    ("state", "sent_again"),
    [("SUCCESS", False), ("STARTED", False), ("FAILURE", True), ("PENDING", True)],
)
def test_a_retried_fire_asks_the_result_backend_before_sending_again(
    broker: Any, state: str, sent_again: bool
) -> None:
    """Attempt 2 of a fire whose task the backend knows as received/running/done sends
    nothing; a failed task (the reason to retry) or an unknown one is sent again."""
    from scheduler.context import RunContext, _set
    from scheduler.contrib.celery import send_task

    app, client, prefix = broker
    app.conf.update(
        result_backend=require("redis"),
        result_backend_transport_options={"global_keyprefix": prefix},
    )
    ctx = RunContext(job_id="r", scheduled_time=T0, attempt=2)
    task_id = fire_uuid("r", T0)
    if state != "PENDING":
        app.backend.store_result(task_id, RuntimeError("x") if state == "FAILURE" else 1, state)
    _set(ctx)
    try:
        sent = send_task(task="t.a", app="celery-app:" + app.main, args=[])
    finally:
        _set(None)
    assert sent == task_id
    queued = [json.loads(m)["headers"]["id"] for m in client.lrange(f"{prefix}{prefix}q", 0, -1)]
    assert queued == ([task_id] if sent_again else [])
    if state == "FAILURE":  # forgotten, so that following it sees the new run, not the old end
        assert app.AsyncResult(task_id).state == "PENDING"
