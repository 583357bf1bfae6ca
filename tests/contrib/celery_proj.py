"""A Celery app for the hand-off tests, configured from the environment so that each test
(and its worker and beat subprocesses) uses its own key prefix and queue in the shared Redis.

``HANDOFF_PREFIX``: key prefix and queue name (unique per test); ``HANDOFF_REDIS``: Redis URL;
``HANDOFF_EVERY``: seconds between fires of the ``tick`` entry (none when unset).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import redis
from celery import Celery

PREFIX = os.environ.get("HANDOFF_PREFIX", "handoff_unset_")
REDIS = os.environ.get("HANDOFF_REDIS", "redis://127.0.0.1:6379/0")

app = Celery("handoff")
app.conf.update(
    broker_url=REDIS,
    result_backend=REDIS,
    broker_transport_options={"global_keyprefix": PREFIX},
    result_backend_transport_options={"global_keyprefix": PREFIX},
    task_default_queue=f"{PREFIX}q",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
)
if os.environ.get("HANDOFF_EVERY"):
    app.conf.beat_schedule = {
        "tick": {
            "task": "tests.contrib.celery_proj.record",
            "schedule": float(os.environ["HANDOFF_EVERY"]),
            "args": ["tick"],
        }
    }


@app.task(bind=True, name="tests.contrib.celery_proj.record")
def record(self: Any, label: str) -> str:
    """Append this task's id to the test's list (the executions the test counts) and its
    sender's origin (``gen<pid>@host``: bench/celery_beat_doubles.py counts per sender)."""
    client = redis.Redis.from_url(REDIS)
    client.rpush(f"{PREFIX}executed", self.request.id)
    client.rpush(f"{PREFIX}origins", str(self.request.origin))
    return label


@app.task(name="tests.contrib.celery_proj.explode")
def explode() -> None:
    raise RuntimeError("boom")


def rq_record(label: str) -> str:
    """The RQ job of the hand-off tests: append its job id to the test's list."""
    from rq import get_current_job

    job = get_current_job()
    redis.Redis.from_url(REDIS).rpush(f"{PREFIX}executed", job.id if job else "?")
    return label


def rq_explode() -> None:
    raise RuntimeError("boom")



def rq_scheduler() -> Any:
    """The RQ beat of the replica tests (``scheduler run tests.contrib.celery_proj:rq_scheduler``):
    ``tick`` enqueued every ``HANDOFF_EVERY`` seconds, in ``HANDOFF_STORE`` under the prefix."""
    from scheduler import Scheduler
    from scheduler.stores import from_url

    sched = Scheduler(store=from_url(os.environ["HANDOFF_STORE"], prefix=PREFIX))
    sched.add_rq_job(
        "tests.contrib.celery_proj:rq_record",
        timedelta(seconds=float(os.environ["HANDOFF_EVERY"])),
        queue=f"{PREFIX}q", args=["tick"], connection=REDIS, id=f"{PREFIX}tick",
    )
    return sched
