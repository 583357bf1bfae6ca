"""Every bad argument fails where it is given (construction, add_job), naming what is wrong."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from scheduler import (
    ConfigurationError,
    InvalidCronExpression,
    InvalidJob,
    InvalidStoreURL,
    InvalidTimezone,
    InvalidTrigger,
    JobOptions,
    Scheduler,
)
from scheduler.job import DEFAULT_MISFIRE_GRACE_TIME
from scheduler.testing import VirtualClock
from tests.core_support import START


def job_func(*args: Any, **kwargs: Any) -> None:
    pass


@pytest.fixture
def sched() -> Iterator[Scheduler]:
    s = Scheduler(clock=VirtualClock(START))
    yield s
    s.shutdown(timeout=1)


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Scheduler]:
    s = Scheduler(clock=VirtualClock(START), store=f"sqlite:///{tmp_path / 'x.db'}")
    assert s.store.durable
    yield s
    s.shutdown(timeout=1)


# -- Scheduler(...) ------------------------------------------------------------------------


def test_unknown_timezone_name() -> None:
    with pytest.raises(InvalidTimezone, match="Mars/Olympus") as info:
        Scheduler(timezone="Mars/Olympus")
    assert info.value.value == "Mars/Olympus"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("bad", [42, "", None])
def test_timezone_of_a_wrong_type(bad: object) -> None:
    with pytest.raises(InvalidTimezone):
        Scheduler(timezone=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        pytest.param({"max_workers": 0}, "max_workers", id="max_workers=0"),
        pytest.param({"max_workers": -3}, "max_workers", id="max_workers<0"),
        pytest.param({"max_workers": 2.5}, "max_workers", id="max_workers-float"),
        pytest.param({"max_workers": True}, "max_workers", id="max_workers-bool"),
        pytest.param({"tick": 0}, "tick", id="tick=0"),
        pytest.param({"tick": -1.0}, "tick", id="tick<0"),
        pytest.param({"tick": "1"}, "tick", id="tick-str"),
        pytest.param({"tick": math.nan}, "tick", id="tick-nan"),
        pytest.param({"shutdown_timeout": -1}, "shutdown_timeout", id="shutdown_timeout<0"),
        pytest.param({"lease_seconds": 0}, "lease_seconds", id="lease_seconds=0"),
        pytest.param({"run_context": 3}, "run_context", id="run_context-not-callable"),
    ],
)
def test_bad_scheduler_arguments(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Scheduler(**kwargs)


def test_unknown_store_url() -> None:
    with pytest.raises(InvalidStoreURL, match="mongo"):
        Scheduler(store="mongo://localhost")


# -- add_job options -----------------------------------------------------------------------


def test_unknown_option_suggests_the_nearest(sched: Scheduler) -> None:
    with pytest.raises(InvalidJob, match=r"'max_instance'.*did you mean 'max_instances'"):
        sched.add_job(job_func, "* * * * *", max_instance=2)
    assert sched.get_jobs() == []


def test_unknown_option_far_from_any_lists_the_valid_ones(sched: Scheduler) -> None:
    with pytest.raises(InvalidJob, match="valid: coalesce, executor, jitter"):
        sched.add_job(job_func, "* * * * *", colour="blue")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_instances", 0),
        ("max_instances", 1.5),
        ("max_instances", True),
        ("misfire_grace_time", -1),
        ("misfire_grace_time", "10"),
        ("misfire_grace_time", math.nan),
        ("coalesce", "yes"),
        ("coalesce", 1),
        ("jitter", -0.5),
        ("jitter", math.inf),
        ("jitter", None),
        ("retries", -1),
        ("retries", 1.0),
        ("timeout", 0),
        ("timeout", -5),
        ("timeout", "30"),
    ],
)
def test_bad_option_values(sched: Scheduler, option: str, value: object) -> None:
    with pytest.raises(InvalidJob, match=option) as info:
        sched.add_job(job_func, "* * * * *", **{option: value})
    assert isinstance(info.value, ValueError)
    assert sched.get_jobs() == []


def test_option_defaults_and_accepted_values(sched: Scheduler) -> None:
    job = sched.add_job(job_func, "* * * * *")
    assert job.options == JobOptions()
    assert job.options.max_instances == 1
    assert job.options.misfire_grace_time == DEFAULT_MISFIRE_GRACE_TIME
    assert job.options.coalesce is True
    assert (job.options.jitter, job.options.retries, job.options.timeout) == (0.0, 0, None)
    other = sched.add_job(
        job_func,
        "* * * * *",
        id="other",
        max_instances=3,
        misfire_grace_time=None,
        coalesce=False,
        jitter=2,
        retries=4,
        timeout=0.5,
    )
    assert other.options.to_dict() == {
        "max_instances": 3,
        "misfire_grace_time": None,
        "coalesce": False,
        "jitter": 2,
        "retries": 4,
        "timeout": 0.5,
    }


@pytest.mark.parametrize("func", [None, 42, "tests.test_job_options:job_func"])
def test_not_callable(sched: Scheduler, func: object) -> None:
    with pytest.raises(InvalidJob, match="not callable"):
        sched.add_job(func, "* * * * *")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("trigger", "error"),
    [
        pytest.param(42, InvalidTrigger, id="int"),
        pytest.param(None, InvalidTrigger, id="None"),
        pytest.param(datetime(2030, 1, 1, tzinfo=timezone.utc), InvalidTrigger, id="datetime"),
        pytest.param(timedelta(0), InvalidTrigger, id="zero-timedelta"),
        pytest.param(timedelta(seconds=-5), InvalidTrigger, id="negative-timedelta"),
        pytest.param("every day", InvalidCronExpression, id="bad-cron"),
        pytest.param("61 * * * *", InvalidCronExpression, id="minute-61"),
    ],
)
def test_bad_trigger(sched: Scheduler, trigger: object, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        sched.add_job(job_func, trigger)  # type: ignore[arg-type]
    assert isinstance(info.value, ConfigurationError)
    assert sched.get_jobs() == []


def test_bad_trigger_message_says_what_is_accepted(sched: Scheduler) -> None:
    with pytest.raises(InvalidTrigger, match=r"cron string.*timedelta"):
        sched.add_job(job_func, 42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": ""}, "id must be a non-empty string"),
        ({"id": 5}, "id must be a non-empty string"),
        ({"name": 5}, "name must be a string"),
        ({"args": "abc"}, "args must be a tuple or list"),
        ({"args": b"abc"}, "args must be a tuple or list"),
        ({"args": 5}, "args must be a tuple or list"),
        ({"kwargs": [1]}, "kwargs must be a dict"),
    ],
)
def test_bad_id_name_args_kwargs(sched: Scheduler, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        sched.add_job(job_func, "* * * * *", **kwargs)
    assert sched.get_jobs() == []


def test_args_may_be_any_iterable(sched: Scheduler) -> None:
    job = sched.add_job(job_func, "* * * * *", args=iter([1, 2]))
    assert job.args == (1, 2)


# -- arguments with a durable store --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "path", "what"),
    [
        pytest.param((datetime(2026, 1, 1),), {}, r"args\[0\]", "datetime", id="datetime"),
        pytest.param(({1, 2},), {}, r"args\[0\]", "set", id="set"),
        pytest.param((b"raw",), {}, r"args\[0\]", "bytes", id="bytes"),
        pytest.param((1, math.nan), {}, r"args\[1\]", "nan", id="nan"),
        pytest.param((), {"limit": math.inf}, r"kwargs\['limit'\]", "inf", id="inf"),
        pytest.param(((1, 2),), {}, r"args\[0\]", "tuple", id="tuple"),
        pytest.param(
            ([{"when": datetime(2026, 1, 1)}],),
            {},
            r"args\[0\]\[0\]\['when'\]",
            "datetime",
            id="nested",
        ),
        pytest.param((), {"opts": {1: "a"}}, r"kwargs\['opts'\]", "non-string key", id="int-key"),
        pytest.param((), {"obj": object()}, r"kwargs\['obj'\]", "object", id="object"),
    ],
)
def test_non_json_arguments_fail_naming_their_path(
    durable: Scheduler, args: tuple[Any, ...], kwargs: dict[str, Any], path: str, what: str
) -> None:
    with pytest.raises(InvalidJob, match=path) as info:
        durable.add_job(job_func, "* * * * *", args=args, kwargs=kwargs)
    assert what in str(info.value)
    assert info.value.job_id == "tests.test_job_options:job_func"
    assert durable.get_jobs() == []


def test_datetime_argument_hint_suggests_isoformat(durable: Scheduler) -> None:
    with pytest.raises(InvalidJob, match="isoformat"):
        durable.add_job(job_func, "* * * * *", args=[datetime(2026, 1, 1)])


def test_json_arguments_are_accepted_by_a_durable_store(durable: Scheduler) -> None:
    job = durable.add_job(
        job_func,
        "* * * * *",
        args=[1, 2.5, "x", None, True, [1, {"a": []}]],
        kwargs={"nested": {"k": [1, 2]}},
    )
    assert job.definition.args == [1, 2.5, "x", None, True, [1, {"a": []}]]


def test_memory_store_takes_any_arguments(sched: Scheduler) -> None:
    # nothing is persisted: the objects are passed as they are
    marker = object()
    job = sched.add_job(job_func, "* * * * *", args=(marker, {1, 2}, b"x"))
    assert job.args[0] is marker


def _nested_factory() -> Any:
    def nested() -> None:
        pass

    return nested


@pytest.mark.parametrize(
    ("func", "what"),
    [
        pytest.param(lambda: None, "lambda", id="lambda"),
        pytest.param(_nested_factory(), "nested function", id="nested"),
        pytest.param(functools.partial(job_func, 1), "partial", id="partial"),
    ],
)
def test_unimportable_functions_rejected_when_added_while_running(
    durable: Scheduler, func: Any, what: str
) -> None:
    # declared in code before start(), every process defines the job itself: fine
    durable.add_job(func, "* * * * *", id="declared")
    durable.start()
    with pytest.raises(InvalidJob, match=what):
        durable.add_job(func, "* * * * *", id="dynamic")
    assert [j.id for j in durable.get_jobs()] == ["declared"]


def test_importable_function_accepted_while_running(durable: Scheduler) -> None:
    durable.task(job_func)  # allowed for dynamic jobs (docs/security.md)
    durable.start()
    job = durable.add_job(job_func, "* * * * *", args=[1])
    assert job.dynamic
    assert job.func_ref == "tests.test_job_options:job_func"
