"""Bad input (scenarios 23-24): every mistake fails at the call, naming what is wrong, and
leaves nothing behind in the store; a stored job whose import vanished is kept, marked
broken and never claimed."""

from __future__ import annotations

import functools
import math
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scheduler import Cron, Interval, Once, Scheduler
from scheduler.exceptions import (
    ConfigurationError,
    DuplicateJobId,
    InvalidCronExpression,
    InvalidJob,
    InvalidTimezone,
    InvalidTrigger,
)
from scheduler.stores.sqlite import SQLiteStore
from scheduler.testing import VirtualClock

from . import jobs


def target() -> None:
    """A module-level, importable job."""


@pytest.fixture
def running(tmp_path: Path):
    """A running scheduler on a durable store (jobs added now are persisted)."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'bad.db'}")
    sched = Scheduler(
        store=store, clock=VirtualClock("2026-03-02T12:00:00+00:00"), allowed_modules=["tests"]
    )
    sched.start()
    yield sched
    sched.shutdown(timeout=2)


def assert_nothing_stored(sched: Scheduler, job_id: str | None = None) -> None:
    assert sched.get_jobs() == []
    assert sched.store.load_jobs(dynamic_only=False) == []
    if job_id is not None:
        assert sched.store.get_job(job_id) is None


CRON = [
    # (expression, field named, token named)
    ("61 * * * *", "minute", "61"),
    ("* 24 * * *", "hour", "24"),
    ("* * 32 * *", "day of month", "32"),
    ("* * 0 * *", "day of month", "0"),
    ("* * * 13 *", "month", "13"),
    ("* * * * 8", "day of week", "8"),
    ("61 * * * * *", "second", "61"),
    ("*/0 * * * *", "minute", "*/0"),
    ("* 5-2 * * *", "hour", "5-2"),
    ("* * * jan-foo *", "month", "jan-foo"),
    ("* * * * mon#6", "day of week", "mon#6"),
    ("* * L5 * *", "day of month", "L5"),
    ("* * 32W * *", "day of month", "32W"),
]


@pytest.mark.parametrize(("expression", "field", "token"), CRON, ids=[c[0] for c in CRON])
def test_invalid_cron_names_field_and_value(
    running: Scheduler, expression: str, field: str, token: str
) -> None:
    with pytest.raises(InvalidCronExpression) as info:
        running.add_job(target, expression, id="bad")
    message = str(info.value)
    assert f"{field} field" in message and repr(token) in message, message
    assert_nothing_stored(running, "bad")


@pytest.mark.parametrize("expression", ["* * * *", "* * * * * * *", "", "@fortnightly"])
def test_cron_of_the_wrong_shape(running: Scheduler, expression: str) -> None:
    with pytest.raises(InvalidCronExpression, match=r"fields|macro|empty"):
        running.add_job(target, expression, id="bad")
    assert_nothing_stored(running, "bad")


def test_unknown_time_zone(running: Scheduler) -> None:
    with pytest.raises(InvalidTimezone, match="Mars/Olympus"):
        running.add_job(target, Cron("0 3 * * *", "Mars/Olympus"), id="bad")
    with pytest.raises(InvalidTimezone, match="Mars/Olympus"):
        Scheduler(timezone="Mars/Olympus")
    assert_nothing_stored(running, "bad")


def test_naive_datetimes_are_rejected(running: Scheduler) -> None:
    with pytest.raises(InvalidTrigger, match="naive"):
        running.add_job(target, Once(datetime(2030, 1, 1, 3, 0)), id="bad")
    with pytest.raises(InvalidTrigger, match=r"start .* naive"):
        Interval(seconds=5, start=datetime(2030, 1, 1))
    assert_nothing_stored(running, "bad")


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-1)])
def test_zero_or_negative_interval(running: Scheduler, interval: timedelta) -> None:
    with pytest.raises(InvalidTrigger, match="must be positive"):
        running.add_job(target, interval, id="bad")
    with pytest.raises(InvalidTrigger, match="must be positive"):
        Interval(seconds=interval.total_seconds())
    assert_nothing_stored(running, "bad")


def test_once_in_the_past(running: Scheduler) -> None:
    past = running.clock.now() - timedelta(seconds=1)
    with pytest.raises(InvalidTrigger, match="in the past"):
        running.add_job(target, Once(past), id="bad")
    assert_nothing_stored(running, "bad")


def test_not_callable(running: Scheduler) -> None:
    with pytest.raises(InvalidJob, match="not callable"):
        running.add_job(target(), "* * * * *", id="bad")  # type: ignore[func-returns-value]
    assert_nothing_stored(running, "bad")


NON_JSON = [
    pytest.param((datetime(2026, 1, 1, tzinfo=timezone.utc),), {}, r"args\[0\]", id="datetime"),
    pytest.param(({1, 2},), {}, r"args\[0\]", id="set"),
    pytest.param((), {"payload": [b"raw"]}, r"kwargs\['payload'\]\[0\]", id="bytes"),
    pytest.param((), {"x": {"ratio": math.nan}}, r"kwargs\['x'\]\['ratio'\]", id="NaN"),
    pytest.param(([(1, 2)],), {}, r"args\[0\]\[0\]", id="tuple"),
]


@pytest.mark.parametrize(("args", "kwargs", "path"), NON_JSON)
def test_non_json_arguments_name_the_argument_path(
    running: Scheduler, args: tuple, kwargs: dict, path: str
) -> None:
    with pytest.raises(InvalidJob, match=path):
        running.add_job(target, "* * * * *", id="bad", args=args, kwargs=kwargs)
    assert_nothing_stored(running, "bad")


def _nested() -> object:
    def inner() -> None:
        pass

    return inner


UNIMPORTABLE = [
    pytest.param(lambda: None, "lambda", id="lambda"),
    pytest.param(_nested(), "nested|local|<locals>", id="nested function"),
    pytest.param(functools.partial(jobs.record, "/dev/null"), "partial", id="partial"),
]


@pytest.mark.parametrize(("func", "words"), UNIMPORTABLE)
def test_unimportable_function_for_a_persisted_job(
    running: Scheduler, func: object, words: str
) -> None:
    with pytest.raises(InvalidJob, match=words):
        running.add_job(func, "* * * * *", id="bad")  # type: ignore[arg-type]
    assert_nothing_stored(running, "bad")


def test_unknown_option_names_the_nearest(running: Scheduler) -> None:
    with pytest.raises(InvalidJob, match=r"'max_instance'.*did you mean 'max_instances'"):
        running.add_job(target, "* * * * *", id="bad", max_instance=2)
    with pytest.raises(ConfigurationError, match=r"'max_worker'.*did you mean 'max_workers'"):
        Scheduler(max_worker=3)
    assert_nothing_stored(running, "bad")


def test_duplicate_id(running: Scheduler) -> None:
    running.add_job(target, "* * * * *", id="dup")
    with pytest.raises(DuplicateJobId, match="'dup'"):
        running.add_job(jobs.record, "*/5 * * * *", id="dup", args=["/dev/null"])
    assert running.store.get_job("dup").definition.func_ref.endswith(":target")  # type: ignore[union-attr]


def test_stored_job_whose_import_vanished_is_kept_broken_and_not_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "vanishing_jobs.py"
    module.write_text(textwrap.dedent("""
        def tick():
            return "tick"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import vanishing_jobs  # type: ignore[import-not-found]

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    clock = VirtualClock("2026-03-02T12:00:00+00:00")
    first = Scheduler(store=url, clock=clock, allowed_modules=["vanishing_jobs"])
    with first:
        first.add_job(vanishing_jobs.tick, Interval(seconds=60), id="vanishing")  # persisted
        clock.advance(minutes=1, scheduler=first)
        assert [str(r.outcome) for r in first.get_runs("vanishing")] == ["succeeded"]

    module.unlink()  # a deploy removed the module
    del sys.modules["vanishing_jobs"]
    second = Scheduler(store=url, clock=clock, allowed_modules=["vanishing_jobs"])
    with second:
        clock.advance(minutes=5, scheduler=second)
        stored = second.store.get_job("vanishing")
        assert stored is not None, "a broken job must not be deleted"
        assert stored.broken and "vanishing_jobs" in stored.broken
        assert "vanishing" not in {j.id for j in second.get_jobs()}
        assert len(second.get_runs("vanishing")) == 1  # nothing claimed since
