"""RQ hand-off against a real Redis: one enqueue per fire, the id derived from the fire key,
a retried send that does not enqueue twice, and the run following the RQ job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("rq")

import redis
from rq import Queue, SimpleWorker
from rq.job import Job as RQJob

from scheduler import Scheduler
from scheduler.context import RunContext, _set
from scheduler.contrib._handoff import fire_uuid
from scheduler.contrib.rq import enqueue
from scheduler.exceptions import InvalidJob
from scheduler.stores import RunOutcome
from scheduler.testing import VirtualClock, settle
from scheduler.triggers.interval import Interval
from tests.services import require, unique_prefix


@pytest.fixture
def rq_env() -> Iterator[tuple[str, redis.Redis, str]]:
    url = require("redis")
    prefix = unique_prefix()
    client = redis.Redis.from_url(url)
    try:
        yield url, client, prefix
    finally:
        # Only this test's keys: its queue's keys carry the prefix, its jobs' ids are known.
        ids = [k.decode().rsplit(":", 1)[1] for k in client.scan_iter(match=f"*{prefix}*")
               if k.startswith(b"rq:job:")]
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        for job_id in {*ids, *(v.decode() for v in client.lrange(f"{prefix}ids", 0, -1))}:
            keys += list(client.scan_iter(match=f"rq:*{job_id}*"))
        if keys:
            client.delete(*keys)
        client.srem("rq:queues", f"rq:queue:{prefix}q")
        client.close()


def test_each_fire_is_enqueued_once_with_its_fire_id(rq_env: Any) -> None:
    url, client, prefix = rq_env
    clock = VirtualClock("2026-01-01T00:00:00+00:00")
    sched = Scheduler(clock=clock)
    job_id = f"{prefix}tick"
    sched.add_rq_job(
        "tests.contrib.celery_proj:rq_record", Interval(seconds=60, start=clock.now()),
        queue=f"{prefix}q", args=["x"], connection=url, id=job_id,
    )
    with sched:
        clock.advance(seconds=120, scheduler=sched)
        settle(sched)
    runs = sorted(sched.get_runs(job_id), key=lambda r: r.scheduled_time)
    ids = [fire_uuid(job_id, r.scheduled_time) for r in runs]
    client.rpush(f"{prefix}ids", *ids)
    assert [(r.outcome, r.result) for r in runs] == [(RunOutcome.SUCCEEDED, i) for i in ids]
    queue = Queue(f"{prefix}q", connection=client)
    assert sorted(queue.job_ids) == sorted(ids)
    job = RQJob.fetch(ids[0], connection=client)
    assert (job.func_name, list(job.args)) == ("tests.contrib.celery_proj.rq_record", ["x"])


def test_a_second_send_of_the_same_fire_enqueues_nothing(rq_env: Any) -> None:
    url, client, prefix = rq_env
    clock = VirtualClock("2026-01-01T00:00:00+00:00")
    ctx = RunContext(job_id=f"{prefix}dup", scheduled_time=clock.now(), attempt=1)
    client.rpush(f"{prefix}ids", fire_uuid(ctx.job_id, ctx.scheduled_time))
    kwargs: dict[str, Any] = {
        "func": "tests.contrib.celery_proj:rq_record", "queue": f"{prefix}q",
        "connection": url, "args": ["x"],
    }
    _set(ctx)
    try:
        first = enqueue(**kwargs)
        again = enqueue(**kwargs)  # a retried attempt, or a peer retrying a lost run
    finally:
        _set(None)
    assert first == again == fire_uuid(ctx.job_id, ctx.scheduled_time)
    assert repr(first) == first  # the run record shows the bare id
    assert Queue(f"{prefix}q", connection=client).job_ids == [first]


def test_follow_results_ends_as_the_rq_job_does(rq_env: Any) -> None:
    url, client, prefix = rq_env
    clock = VirtualClock("2026-01-01T00:00:00+00:00")
    sched = Scheduler(clock=clock)
    for name in ("rq_record", "rq_explode"):
        sched.add_rq_job(
            f"tests.contrib.celery_proj:{name}", Interval(seconds=60, start=clock.now()),
            queue=f"{prefix}q", args=["x"] if name == "rq_record" else [], connection=url,
            id=f"{prefix}{name}", follow_results=True, timeout=30,
        )
    with sched:
        clock.advance(seconds=60, scheduler=sched, wait=False)  # the runs wait on RQ now
        queue = Queue(f"{prefix}q", connection=client)
        for _ in range(400):  # hang guard while the pool threads enqueue (Redis, no Event)
            if queue.count == 2:
                break
            time.sleep(0.05)
        client.rpush(f"{prefix}ids", *queue.job_ids)
        SimpleWorker([queue], connection=client, name=f"{prefix}w").work(burst=True)
        settle(sched, timeout=30)
    (ok,) = sched.get_runs(f"{prefix}rq_record")
    (bad,) = sched.get_runs(f"{prefix}rq_explode")
    assert ok.outcome is RunOutcome.SUCCEEDED
    assert bad.outcome is RunOutcome.FAILED
    assert "RQJobFailed" in (bad.error or "") and "boom" in (bad.error or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"func": "no_colon"}, "package.module:function"),
        ({"queue": ""}, "queue must be a non-empty string"),
        ({"connection": "localhost"}, "connection must be a Redis URL"),
        ({"options": {"job_timeout": 5}}, "unknown RQ option 'job_timeout'"),
        ({"args": [{1, 2}]}, r"args\[0\] is of type set"),
    ],
)
def test_bad_arguments_are_refused_at_add(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"func": "tests.contrib.celery_proj:rq_record"}
    base.update(kwargs)
    func = base.pop("func")
    sched = Scheduler()
    with pytest.raises(InvalidJob, match=message):
        sched.add_rq_job(func, timedelta(seconds=5), **base)
    assert sched.get_jobs() == []
