"""What the Celery and RQ senders share: ids derived from the fire key, a readable result.

A fire handed to Celery or RQ is an ordinary job whose function is a small sender in
:mod:`scheduler.contrib.celery` or :mod:`scheduler.contrib.rq`. It is claimed once in the store
like any fire, then sent with an id derived from its fire key, so the same fire always carries
the same task or job id (a retried send cannot make a second, different task).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

from ..context import RunContext, current_job
from ..stores import FireKey

__all__ = ["SentId", "fire_uuid", "run_context"]

#: fixed namespace of the uuid5 ids: every process derives the same id from the same fire
_NAMESPACE = uuid.UUID("6f0c4d1e-5b7a-5c3e-9a41-2d8e0b7f1c55")


def fire_uuid(job_id: str, scheduled_time: datetime) -> str:
    """The task / job id of the fire ``(job_id, scheduled_time)``: a uuid5 of its fire key.

    Use it to find the Celery task (``app.AsyncResult(id)``) or RQ job of a given fire.
    """
    key = FireKey(job_id, scheduled_time.astimezone(timezone.utc)).key
    return str(uuid.uuid5(_NAMESPACE, key))


class SentId(str):
    """A task or job id, returned by the senders. The run record keeps ``repr()`` of what a
    job returns (``'done'`` with quotes); this repr is the bare id, so the record's ``result``
    is the id itself, ready to paste into ``AsyncResult(...)`` or ``rq job``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


def run_context(what: str) -> RunContext:
    """The current run; a sender called outside a run (a plain function call) gets a fire at
    now, with an event nobody sets."""
    ctx = current_job()
    if ctx is not None:
        return ctx
    return RunContext(
        job_id=what, scheduled_time=datetime.now(timezone.utc), attempt=1,
        cancel_event=threading.Event(),
    )
