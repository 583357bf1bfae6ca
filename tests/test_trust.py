"""The trust rule for dynamic jobs (#10 item 1): only functions this process allowed.

The end-to-end cases (hostile rows in real stores) are in
``tests/reliability/test_hostile_store.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler import Scheduler
from scheduler._refs import Allowlist
from scheduler.exceptions import ConfigurationError, InvalidJob
from scheduler.testing import VirtualClock


def allowed_job() -> str:
    return "ran"


def other_job() -> None:
    pass


def third_job() -> None:
    pass


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Scheduler]:
    sched = Scheduler(
        store=f"sqlite:///{tmp_path / 'jobs.db'}", clock=VirtualClock("2026-03-02T12:00:00+00:00")
    )
    yield sched
    sched.shutdown(timeout=1)


@pytest.mark.parametrize(
    ("ref", "allowed"),
    [
        ("myapp.jobs:f", True),
        ("myapp.jobs.nightly:f", True),
        ("myapp.jobs:Cls.method", True),
        ("myapp.jobsevil:f", False),
        ("myapp:f", False),
        ("myapp.job:f", False),
        ("os:system", False),
        ("builtins:exec", False),
        ("myapp.jobs:f.__globals__", False),
        ("myapp.jobs:__import__", False),
        ("myapp.jobs", False),
        ("myapp.jobs:", False),
        (".jobs:f", False),
        ("myapp..jobs:f", False),
        ("myapp.jobs:f;x", False),
    ],
)
def test_allowed_modules_match_whole_dotted_components(ref: str, allowed: bool) -> None:
    assert Allowlist(["myapp.jobs"]).allows(ref) is allowed


def test_nothing_is_allowed_by_default() -> None:
    rule = Allowlist()
    assert not rule.allows("tests.test_trust:allowed_job")
    with pytest.raises(InvalidJob, match=r"not allowed.*@sched\.task.*allowed_modules"):
        rule.resolve("tests.test_trust:allowed_job")


def test_a_function_reached_through_an_allowed_module_is_refused() -> None:
    # tests.test_trust imports os: 'tests.test_trust:os.system' must not lead to os.system
    assert os.system  # the attribute path exists
    with pytest.raises(InvalidJob, match=r"not a function defined in 'tests\.test_trust'"):
        Allowlist(["tests"]).resolve("tests.test_trust:os.system")


def test_allowed_modules_are_checked_at_construction() -> None:
    for bad in (["my app"], ["a..b"], [3], ["myapp.jobs:f"]):
        with pytest.raises(ConfigurationError, match="allowed_modules"):
            Scheduler(allowed_modules=bad)
    assert Scheduler(allowed_modules="myapp.jobs")._allowed.modules == ("myapp.jobs",)


def test_adding_a_function_not_allowed_at_run_time_fails_saying_how_to_allow_it(
    durable: Scheduler,
) -> None:
    durable.start()
    with pytest.raises(InvalidJob) as info:
        durable.add_job(allowed_job, "* * * * *")
    message = str(info.value)
    assert "'tests.test_trust:allowed_job'" in message
    assert "@sched.task" in message and "allowed_modules" in message
    assert durable.get_jobs() == []
    assert durable.store.load_jobs(dynamic_only=False) == []


def test_a_task_is_allowed_and_runs(durable: Scheduler) -> None:
    assert durable.task(allowed_job) is allowed_job  # unchanged, usable as a decorator

    assert durable.task()(third_job) is third_job  # the call form works too

    durable.start()
    job = durable.add_job(allowed_job, "* * * * *", id="dyn")
    assert job.dynamic
    durable.clock.advance(minutes=1, scheduler=durable)  # type: ignore[attr-defined]
    assert [str(r.outcome) for r in durable.get_runs("dyn")] == ["succeeded"]
    with pytest.raises(InvalidJob):
        durable.add_job(other_job, "* * * * *")


def test_task_refuses_what_other_processes_cannot_import() -> None:
    sched = Scheduler()
    with pytest.raises(InvalidJob, match="lambda"):
        sched.task(lambda: None)


def test_allowed_modules_let_a_function_be_added_at_run_time(tmp_path: Path) -> None:
    sched = Scheduler(store=f"sqlite:///{tmp_path / 'jobs.db'}", allowed_modules=["tests"])
    with sched:
        assert sched.add_job(allowed_job, "* * * * *").dynamic


def test_jobs_declared_before_start_need_no_allowance(durable: Scheduler) -> None:
    durable.add_job(other_job, "* * * * *")  # the code's own job: not loaded from the store
    durable.start()
    assert [j.id for j in durable.get_jobs()] == ["tests.test_trust:other_job"]


def test_the_memory_store_needs_no_allowance() -> None:
    with Scheduler() as sched:
        assert not sched.add_job(other_job, "* * * * *").dynamic


@pytest.mark.parametrize("value", ["myapp.jobs", [1], ["a b"]])
def test_integration_setting_is_validated(value: object) -> None:
    from scheduler.contrib._common import validate_settings

    with pytest.raises(ConfigurationError, match="SCHEDULER_ALLOWED_MODULES"):
        validate_settings(
            {"SCHEDULER_ALLOWED_MODULES": value}, spell=lambda n: "SCHEDULER_" + n.upper()
        )
    out = validate_settings(
        {"SCHEDULER_ALLOWED_MODULES": ["myapp.jobs"]}, spell=lambda n: "SCHEDULER_" + n.upper()
    )
    assert out == {"allowed_modules": ["myapp.jobs"]}


def greet(who: str) -> str:
    return f"hello {who}"


def only_friends(args: list[object], kwargs: dict[str, object]) -> None:
    if kwargs.get("who") != "friend":
        raise InvalidJob(f"who={kwargs.get('who')!r} is not a friend")


def test_a_tasks_argument_check_refuses_at_add_and_marks_a_stored_job_broken(
    tmp_path: Path,
) -> None:
    """check_args: for functions whose arguments name further code or hosts (the Celery and
    RQ senders use it); the same check at add_job and before any instance loads the job."""
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    clock = VirtualClock("2026-03-02T12:00:00+00:00")
    with Scheduler(store=store, clock=clock) as writer:  # allowed, with no check
        writer.task(greet)
        writer.add_job(greet, "* * * * *", id="stranger", kwargs={"who": "stranger"})
        writer.add_job(greet, "* * * * *", id="friend", kwargs={"who": "friend"})
    sched = Scheduler(store=store, clock=clock)
    assert sched.task(check_args=only_friends)(greet) is greet
    with sched:
        with pytest.raises(InvalidJob, match="job 'new': who='x' is not a friend"):
            sched.add_job(greet, "* * * * *", id="new", kwargs={"who": "x"})
        assert [j.id for j in sched.get_jobs()] == ["friend"]
        clock.advance(minutes=1, scheduler=sched)
    assert [r.result for r in sched.get_runs("friend")] == ["'hello friend'"]
    assert "is not a friend" in str(sched.store.get_job("stranger").broken)  # type: ignore[union-attr]
    assert sched.get_runs("stranger") == []


def test_a_running_job_sees_its_scheduler() -> None:
    from scheduler import current_job

    seen = []
    with Scheduler() as sched:
        job = sched.add_job(lambda: seen.append(current_job().scheduler), "* * * * *")  # type: ignore[union-attr]
        sched.run_job(job.id)
    assert seen == [sched]
