"""Where the tests find PostgreSQL and Redis, and what happens when they are not there.

Addresses come from ``SCHEDULER_TEST_POSTGRES_URL`` and ``SCHEDULER_TEST_REDIS_URL`` with the
local defaults. Under ``CI=true`` a missing service fails the test; elsewhere it is skipped with
a message saying how to start it.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get(
    "SCHEDULER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SCHEDULER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

_HOW = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str) -> str:
    """The service's URL, or skip (fail under CI) when nothing listens there."""
    url = POSTGRES_URL if service == "postgresql" else REDIS_URL
    if _reachable(url):
        return url
    message = f"{service} is not reachable at {url}; start it with: {_HOW[service]}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def unique_prefix() -> str:
    """A table/key prefix per test, so tests never see each other's rows."""
    return f"t{uuid.uuid4().hex[:10]}_"
