"""The Redis ACL that docs/security.md recommends is enough for a running scheduler: static
and dynamic jobs, instances, health (the rule is read from the document itself)."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from scheduler import Interval, Scheduler
from scheduler.events import JobSucceeded
from scheduler.stores.redis import RedisStore
from tests.services import require, unique_prefix

pytestmark = pytest.mark.redis

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
HANG = 30.0  # hang guard (seconds)


def documented_rules() -> list[str]:
    """The words after ``ACL SETUSER sched`` in docs/security.md."""
    text = " ".join(DOC.read_text().split())
    match = re.search(r"`ACL SETUSER sched ([^`]+)`", text)
    assert match, "docs/security.md no longer shows the ACL"
    return match.group(1).split()


def static_job() -> None:
    pass


def dynamic_job() -> None:
    pass


@pytest.fixture
def restricted_url() -> Iterator[tuple[str, str]]:
    """A Redis URL of a user with exactly the documented rights, for a fresh prefix."""
    import redis

    url = require("redis")
    prefix = unique_prefix()
    user, password = f"acl{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rules = [
        f">{password}" if rule == ">PASSWORD" else rule.replace("~scheduler:*", f"~{prefix}*")
        for rule in documented_rules()
    ]
    admin = redis.Redis.from_url(url)
    admin.execute_command("ACL", "SETUSER", user, *rules)
    parts = urlsplit(url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 6379}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc)), prefix
    finally:
        admin.execute_command("ACL", "DELUSER", user)
        RedisStore(url, prefix=prefix).drop_keys()
        admin.close()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_documented_acl_runs_a_scheduler(restricted_url: tuple[str, str]) -> None:
    url, prefix = restricted_url
    errors = _Errors()
    logging.getLogger("scheduler").addHandler(errors)
    ran = {"static": threading.Event(), "dynamic": threading.Event()}
    sched = Scheduler(store=RedisStore(url, prefix=prefix), lease_seconds=1.5)
    sched.task(dynamic_job)
    sched.add_job(static_job, Interval(seconds=0.2), id="static")
    sched.add_listener(lambda e: ran[e.job_id].set(), [JobSucceeded])
    try:
        with sched:
            assert ran["static"].wait(HANG)
            # added at run time: stored, and loaded by every instance (MULTI in load_jobs)
            sched.add_job(dynamic_job, Interval(seconds=0.2), id="dynamic")
            assert ran["dynamic"].wait(HANG)
            assert [item.definition.id for item in sched.store.load_jobs()] == ["dynamic"]
            assert [info.instance for info in sched.instances()] == [str(sched.owner)]
            assert sched.health().ok
        assert sched.instances() == []
    finally:
        logging.getLogger("scheduler").removeHandler(errors)
    assert errors.messages == []
