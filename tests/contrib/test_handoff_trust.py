"""The trust rule reaches the Celery/RQ hand-off (#10, #14; docs/security.md).

A fire handed to Celery or RQ is a job whose function is a sender, and the sender's
arguments name code and hosts: the Celery app reference is imported, the task name and the
RQ function are run by workers, the Redis URL is connected to. Rows are written straight into
the store, as a writer with the store's credentials would; whatever they name that this
process did not allow is neither imported, nor sent, nor enqueued. The legitimate paths
(tasks added at run time, and a peer that allowed them) still send.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("celery")
pytest.importorskip("rq")

import redis
from celery import Celery
from rq import Queue

from scheduler import Interval, Scheduler
from scheduler.contrib.celery import send_task
from scheduler.contrib.rq import enqueue
from scheduler.exceptions import ConfigurationError, InvalidJob
from scheduler.stores import JobDefinition, RunOutcome, Store
from scheduler.testing import VirtualClock
from tests.reliability.test_hostile_store import _redis, _sqlite
from tests.services import require, unique_prefix

START = "2026-03-02T12:00:00+00:00"
RECORD = "tests.contrib.celery_proj:rq_record"
SEND = "scheduler.contrib.celery:send_task"
ENQUEUE = "scheduler.contrib.rq:enqueue"


def stored(job_id: str, sender: str, kwargs: dict[str, Any]) -> JobDefinition:
    """A dynamic job naming a sender, as a writer of the store would put it there."""
    return JobDefinition(
        id=job_id,
        name=job_id,
        func_ref=sender,
        trigger=Interval(seconds=1).to_dict(),
        kwargs=kwargs,
        dynamic=True,
    )


@pytest.fixture(
    params=[
        pytest.param(_sqlite, id="sqlite"),
        pytest.param(_redis, id="redis", marks=pytest.mark.redis),
    ]
)
def hostile(request: Any, tmp_path: Path) -> Iterator[tuple[Store, Any]]:
    store, write, cleanup = request.param(tmp_path)
    store.open()
    yield store, write
    store.close()
    cleanup()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A Celery app whose broker is the test Redis under a unique key prefix, an RQ queue
    name, and a module whose import (or call) leaves a marker file."""
    url = require("redis")
    prefix = unique_prefix()
    app = Celery(f"trust{prefix}", set_as_current=False)
    app.conf.update(
        broker_url=url,
        broker_transport_options={"global_keyprefix": prefix},
        task_default_queue=f"{prefix}q",
        broker_connection_retry_on_startup=False,
    )
    markers = tmp_path / "markers"
    markers.mkdir()
    module = f"evil_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        f"open({str(markers / 'imported')!r}, 'w').close()\n"
        f"def app():\n    open({str(markers / 'ran')!r}, 'w').close()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    client = redis.Redis.from_url(url)
    try:
        yield {
            "url": url,
            "prefix": prefix,
            "app": app,
            "ref": f"celery-app:{app.main}",
            "markers": markers,
            "module": module,
            "client": client,
            "queue": f"{prefix}q",
        }
    finally:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        for job_id in Queue(f"{prefix}q", connection=client).job_ids:
            keys += list(client.scan_iter(match=f"rq:*{job_id}*"))
        if keys:
            client.delete(*keys)
        client.srem("rq:queues", f"rq:queue:{prefix}q")
        client.close()


def celery_rows(env: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        # importing the module a row names is running its code
        "celery-app": {"task": "t.report", "app": f"{env['module']}:app"},
        "celery-task": {"task": "t.drop_everything", "app": env["ref"]},
        # a link names a further task the worker would run
        "celery-link": {
            "task": "t.report",
            "app": env["ref"],
            "options": {"link": {"task": "t.drop_everything"}},
        },
    }


def rq_rows(env: dict[str, Any]) -> dict[str, dict[str, Any]]:
    base = {"queue": env["queue"], "connection": env["url"]}
    touch = [f"touch {env['markers'] / 'shell'}"]
    return {
        "rq-shell": {**base, "func": "os:system", "args": touch},
        # tests.reliability.jobs (allowed) imports os: not a way through
        "rq-through": {**base, "func": "tests.reliability.jobs:os.system", "args": touch},
        # a Redis of the writer's choosing
        "rq-their-redis": {**base, "func": RECORD, "connection": "redis://:hunter2@127.0.0.1:1/0"},
        # RQ turns on_success into a callback it imports and runs
        "rq-callback": {
            **base,
            "func": RECORD,
            "args": ["x"],
            "options": {"on_success": "os.system"},
        },
    }


def nothing_happened(env: dict[str, Any]) -> None:
    assert sorted(p.name for p in env["markers"].iterdir()) == [], "a row ran code"
    assert env["module"] not in sys.modules, "a row imported a module"
    assert Queue(env["queue"], connection=env["client"]).count == 0, "a row was enqueued"
    celery_keys = [
        k
        for k in env["client"].scan_iter(match=f"{env['prefix']}*")
        if not k.startswith(f"{env['prefix']}q".encode())
    ]
    assert celery_keys == [], "a row was sent to the Celery broker"
    assert list(env["client"].scan_iter(match=f"{env['prefix']}{env['prefix']}q*")) == []


def test_rows_naming_what_this_process_did_not_allow_are_marked_broken_at_load(
    hostile: Any, env: dict[str, Any]
) -> None:
    from scheduler.contrib.celery import allow_celery
    from scheduler.contrib.rq import allow_rq

    store, write = hostile
    rows = {
        **{k: (SEND, v) for k, v in celery_rows(env).items()},
        **{k: (ENQUEUE, v) for k, v in rq_rows(env).items()},
    }
    for job_id, (sender, kwargs) in rows.items():
        write(stored(job_id, sender, kwargs))
    clock = VirtualClock(START)
    sched = Scheduler(store=store, clock=clock, allowed_modules=["tests.reliability"])
    allow_celery(sched, app=env["app"], tasks=["t.report"])
    allow_rq(sched, connection=env["url"], funcs=[RECORD])
    with sched:
        clock.advance(seconds=10, scheduler=sched)
    nothing_happened(env)
    assert sched.get_jobs() == []
    reasons = {job_id: str(store.get_job(job_id).broken) for job_id in rows}  # type: ignore[union-attr]
    for job_id in rows:
        assert store.get_runs(job_id) == [], f"{job_id} was claimed"
    assert f"the Celery app '{env['module']}:app' is not allowed" in reasons["celery-app"]
    assert "allow_celery(sched, app=" in reasons["celery-app"]
    assert "the Celery task 't.drop_everything' is not allowed" in reasons["celery-task"]
    assert "options['link'] cannot be set" in reasons["celery-link"]
    assert "the RQ function 'os:system' is not allowed" in reasons["rq-shell"]
    assert "allow_rq(sched, funcs=['os:system'])" in reasons["rq-shell"]
    assert "not a function defined in 'tests.reliability.jobs'" in reasons["rq-through"]
    their = reasons["rq-their-redis"]
    assert "the RQ connection 'redis://:***@127.0.0.1:1/0' is not allowed" in their
    assert "hunter2" not in their
    assert "unknown RQ option 'on_success'" in reasons["rq-callback"]


def test_a_sender_allowed_by_hand_still_refuses_at_send_time(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    """``sched.task(send_task)`` allows the sender without any check of its arguments (the
    only way before the hand-off knew the trust rule): the sender itself refuses, before it
    imports the app or connects to Redis, and the run fails saying what to allow."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Scheduler(store=store, clock=VirtualClock(START)) as writer:  # allowed by hand
        writer.task(send_task)
        writer.task(enqueue)
        for job_id, kwargs in celery_rows(env).items():
            writer.add_job(send_task, Interval(seconds=60), id=job_id, kwargs=kwargs)
        for job_id, kwargs in rq_rows(env).items():
            writer.add_job(enqueue, Interval(seconds=60), id=job_id, kwargs=kwargs)
    clock = VirtualClock(START)
    sched = Scheduler(
        store=store, clock=clock, allowed_modules=["tests.reliability", "tests.contrib"]
    )
    sched.task(send_task)
    sched.task(enqueue)
    with sched:
        clock.advance(seconds=61, scheduler=sched)
    nothing_happened(env)
    errors = {}
    for job_id in [*celery_rows(env), *rq_rows(env)]:
        runs = sched.get_runs(job_id)
        assert [r.outcome for r in runs] == [RunOutcome.FAILED], job_id
        errors[job_id] = runs[0].error or ""
        assert "InvalidJob" in errors[job_id], errors[job_id]
    assert "is not allowed for the hand-off" in errors["celery-app"]
    assert "scheduler.contrib.celery.allow_celery" in errors["celery-app"]
    assert "scheduler.contrib.rq.allow_rq" in errors["rq-shell"]
    assert "the RQ connection 'redis://:***@127.0.0.1:1/0'" in errors["rq-their-redis"]


def test_a_task_added_at_run_time_is_sent_by_a_peer_that_allowed_it(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    from scheduler.contrib.celery import allow_celery
    from scheduler.contrib.rq import allow_rq

    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with Scheduler(store=store, clock=VirtualClock(START)) as adder:  # added while it runs
        cel = adder.add_celery_task(
            "t.report",
            Interval(seconds=60),
            args=[7],
            app=env["app"],
            id="report",
            options={"priority": 3},
        )
        rq = adder.add_rq_job(
            RECORD,
            Interval(seconds=60),
            args=["x"],
            queue=env["queue"],
            connection=env["url"],
            id="record",
        )
        assert cel.dynamic and rq.dynamic
    clock = VirtualClock(START)
    # A peer that allows them two ways: by name, and RQ's function by allowed_modules
    peer = Scheduler(store=store, clock=clock, allowed_modules=["tests.contrib"])
    allow_celery(peer, app=env["app"], tasks=["t.report"])
    allow_rq(peer, connection=env["url"])
    with peer:
        clock.advance(seconds=60, scheduler=peer)
    for job_id in ("report", "record"):
        runs = peer.get_runs(job_id)
        assert [r.outcome for r in runs] == [RunOutcome.SUCCEEDED], (job_id, runs)
    assert Queue(env["queue"], connection=env["client"]).count == 1
    assert list(env["client"].scan_iter(match=f"{env['prefix']}{env['prefix']}q*")) != []

    # A peer that did not allow them marks them broken, and neither imports nor sends
    clock = VirtualClock(START)
    bare = Scheduler(store=store, clock=clock, allowed_modules=["tests.contrib.other"])
    allow_celery(bare, app=env["app"])  # the app, not the task
    allow_rq(bare, connection="redis://elsewhere:6379/0", funcs=[RECORD])  # not this URL
    with bare:
        clock.advance(seconds=5, scheduler=bare)
    assert bare.get_jobs() == []
    assert "'t.report' is not allowed" in str(bare.store.get_job("report").broken)  # type: ignore[union-attr]
    assert f"{env['url']!r} is not allowed" in str(bare.store.get_job("record").broken)  # type: ignore[union-attr]


def test_declared_beat_jobs_on_a_durable_store_need_no_allowance(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    from scheduler.contrib.celery import beat_jobs

    env["app"].conf.beat_schedule = {"tick": {"task": "t.tick", "schedule": 60.0}}
    clock = VirtualClock(START)
    sched = Scheduler(store=f"sqlite:///{tmp_path / 'beat.db'}", clock=clock)
    (job,) = beat_jobs(sched, env["app"], env["ref"])
    with sched:
        clock.advance(seconds=60, scheduler=sched)
    assert not job.dynamic
    assert [r.outcome for r in sched.get_runs("tick")] == [RunOutcome.SUCCEEDED]


def test_the_senders_arguments_are_checked_when_added_at_run_time(
    tmp_path: Path, env: dict[str, Any]
) -> None:
    from scheduler.contrib.celery import allow_celery

    with Scheduler(store=f"sqlite:///{tmp_path / 'jobs.db'}") as sched:
        allow_celery(sched, app=env["app"], tasks=["t.report"])
        with pytest.raises(InvalidJob, match=r"job 'x': the Celery app 'evil:app' is not allowed"):
            sched.add_job(
                send_task,
                timedelta(seconds=5),
                id="x",
                kwargs={"task": "t.report", "app": "evil:app"},
            )
        with pytest.raises(InvalidJob, match="keyword arguments only"):
            sched.add_job(send_task, timedelta(seconds=5), id="y", args=["t.report"])
        assert sched.get_jobs() == []
    assert "evil" not in sys.modules


@pytest.mark.parametrize(
    ("kwargs", "allowed"),
    [
        ({"app": "proj.celery:app", "task": "proj.tasks.report"}, True),
        ({"app": "proj.celery", "task": "proj.tasks.nightly.report"}, True),
        ({"app": "projevil.celery:app", "task": "proj.tasks.report"}, False),
        ({"app": "proj.celery:__class__", "task": "proj.tasks.report"}, False),
        ({"app": "proj.celery:app", "task": "projevil.report"}, False),
        ({"app": "proj.celery:app", "task": "proj.report"}, False),  # module 'proj' only
        ({"app": "proj.celery:app", "task": "celery.chain"}, False),
        ({"app": "proj.celery:app", "task": 7}, False),
        ({"app": None, "task": "proj.tasks.report"}, False),
    ],
)
def test_allowed_modules_allow_apps_and_task_names_by_whole_components(
    kwargs: dict[str, Any], allowed: bool
) -> None:
    from scheduler.contrib._handoff import Grants
    from scheduler.contrib.celery import _check_stored

    grants = Grants(("proj.celery", "proj.tasks"))
    if allowed:
        _check_stored(grants, kwargs)
    else:
        with pytest.raises(InvalidJob, match="is not allowed for the hand-off"):
            _check_stored(grants, kwargs)


def test_link_options_are_refused_at_add() -> None:
    app = Celery("links", set_as_current=False)
    with pytest.raises(InvalidJob, match=r"options\['link_error'\] cannot be set"):
        Scheduler().add_celery_task(
            "t.a", timedelta(seconds=5), app=app, options={"link_error": {"task": "t.b"}}
        )


@pytest.mark.parametrize("module", ["scheduler", "scheduler.contrib", "scheduler.contrib.celery"])
def test_allowed_modules_may_not_name_the_library_itself(module: str) -> None:
    # scheduler.contrib.celery:load_app imports whatever its argument names
    with pytest.raises(ConfigurationError, match=r"allowed_modules may not name .*allow_celery"):
        Scheduler(allowed_modules=[module])
    assert Scheduler(allowed_modules=["schedulers_of_mine"]).allowed_modules == (
        "schedulers_of_mine",
    )
