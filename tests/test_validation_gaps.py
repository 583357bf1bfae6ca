"""Validation gaps of #10 item 9: each refused at construction with the library's error."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from scheduler import Interval, Scheduler
from scheduler.exceptions import InvalidCronExpression, InvalidStoreURL, InvalidTrigger
from scheduler.triggers import coerce
from scheduler.triggers.cron import Cron
from scheduler.triggers.interval import RandomInterval


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seconds": 1e300}, "too long"),
        ({"seconds": float("inf")}, "finite"),
        ({"days": 1e9}, "too long"),
        ({"seconds": float("nan")}, "finite"),
        ({"weeks": float("-inf")}, "finite"),
        ({"seconds": 1e-6}, "at least 1 ms"),
        ({"seconds": 0.0009}, "at least 1 ms"),
    ],
    ids=["1e300", "inf", "days-1e9", "nan", "-inf", "1us", "0.9ms"],
)
def test_interval_bounds(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(InvalidTrigger, match=match):
        Interval(**kwargs)


def test_the_minimum_interval_is_one_millisecond() -> None:
    assert Interval(seconds=0.001).interval == timedelta(milliseconds=1)
    with pytest.raises(InvalidTrigger, match="at least 1 ms"):
        coerce(timedelta(microseconds=999))
    with pytest.raises(InvalidTrigger, match="at least 1 ms"):
        RandomInterval(timedelta(microseconds=10), timedelta(seconds=1))
    with pytest.raises(InvalidTrigger, match="at least 1 ms"):
        Scheduler().every(0.0000001).seconds.do(print)


def test_the_longest_interval_stops_instead_of_overflowing() -> None:
    from datetime import datetime, timezone

    assert Interval(days=999_999_999).next_after(datetime.now(timezone.utc)) is None


def test_a_huge_cron_number_is_an_invalid_expression() -> None:
    with pytest.raises(InvalidCronExpression, match="5000-digit number") as info:
        Cron("9" * 5000 + " * * * *")
    assert info.value.field == "minute"


def test_scheduler_next_with_a_huge_number_exits_2_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scheduler", "next", "* " + "1" * 5000 + " * * *"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-500:]
    assert "invalid cron expression" in done.stderr and "hour field" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/notadb",
        "redis://127.0.0.1:6379/-1",
        "redis://127.0.0.1:6379/0?db=x",
        "unix:///tmp/redis.sock?db=one",
        "redis://127.0.0.1:notaport/0",
    ],
)
def test_redis_url_with_a_bad_db_or_port_is_refused(url: str) -> None:
    pytest.importorskip("redis")
    with pytest.raises(InvalidStoreURL):
        Scheduler(store=url)


def test_redis_url_good_dbs_are_accepted() -> None:
    pytest.importorskip("redis")
    from scheduler.stores.redis import RedisStore

    for url in ("redis://h:6379/3", "redis://h:6379", "redis://h:6379/", "unix:///s?db=2"):
        RedisStore(url)


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("port=notaport", "port 'notaport'"),
        ("port=0", "port '0'"),
        ("sslmode=bogus", "sslmode 'bogus'"),
        ("connect_timeout=soon", "connect_timeout"),
        ("target_session_attrs=whatever", "target_session_attrs"),
    ],
)
def test_postgresql_url_parameters_are_checked_at_construction(query: str, match: str) -> None:
    pytest.importorskip("psycopg")
    from scheduler.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=match):
        Scheduler(store=f"postgresql://app@db/app?{query}")
    Scheduler(store="postgresql://app@db:5432/app?sslmode=require&connect_timeout=3")
