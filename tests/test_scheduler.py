"""The Scheduler facade: adding, looking up, removing, pausing, resuming and running jobs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from scheduler import (
    Cron,
    DuplicateJobId,
    Interval,
    InvalidTrigger,
    JobNotFound,
    Once,
    RunOutcome,
    Scheduler,
    SchedulerNotRunning,
)
from scheduler.events import JobAdded, JobRemoved
from scheduler.testing import VirtualClock
from tests.core_support import START, Calls, Recorder

UTC = timezone.utc
T0 = datetime.fromisoformat(START)


def tick() -> None:
    """A module-level job: its default id is its import path."""


def tock() -> str:
    return "tock"


class Holder:
    @staticmethod
    def method() -> None:
        pass


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def sched(clock: VirtualClock) -> Iterator[Scheduler]:
    s = Scheduler(clock=clock)
    yield s
    s.shutdown(timeout=1)


# -- add_job and its trigger forms ---------------------------------------------------------


def test_add_job_takes_a_trigger_a_cron_string_and_a_timedelta(sched: Scheduler) -> None:
    by_trigger = sched.add_job(tick, Cron("0 3 * * *", timezone="Europe/Bratislava"), id="t")
    by_cron = sched.add_job(tick, "*/15 * * * *", id="c")
    by_delta = sched.add_job(tick, timedelta(minutes=5), id="d")
    assert isinstance(by_cron.trigger, Cron)
    assert isinstance(by_delta.trigger, Interval)
    sched.start()
    assert by_trigger.next_run_time == datetime(2026, 3, 3, 3, tzinfo=ZoneInfo("Europe/Bratislava"))
    assert by_cron.next_run_time == T0 + timedelta(minutes=15)
    assert by_delta.next_run_time == T0 + timedelta(minutes=5)


def test_cron_string_and_timedelta_jobs_fire_when_due(
    sched: Scheduler, clock: VirtualClock
) -> None:
    every_15 = Calls()
    every_5 = Calls()
    sched.add_job(every_15, "*/15 * * * *", id="c")
    sched.add_job(every_5, timedelta(minutes=5), id="d")
    with sched:
        clock.advance(minutes=30, scheduler=sched)
    assert every_15.count == 2
    assert every_5.count == 6


def test_job_decorator_returns_the_function_unchanged(sched: Scheduler) -> None:
    def report() -> str:
        return "done"

    decorated = sched.job("0 3 * * *", max_instances=2)(report)
    assert decorated is report
    assert decorated() == "done"
    job = sched.get_job(f"{__name__}:{report.__qualname__}")
    assert job.id.endswith("test_job_decorator_returns_the_function_unchanged.<locals>.report")
    assert job.options.max_instances == 2
    assert job.func is report


def test_default_id_is_module_colon_qualname(sched: Scheduler) -> None:
    assert sched.add_job(tick, "* * * * *").id == "tests.test_scheduler:tick"
    assert sched.add_job(Holder.method, "* * * * *").id == "tests.test_scheduler:Holder.method"
    job = sched.add_job(tock, "* * * * *")
    assert job.name == "tock"
    assert sched.add_job(tock, "* * * * *", id="x", name="Tock!").name == "Tock!"


def test_same_function_twice_raises_duplicate_job_id(sched: Scheduler) -> None:
    sched.add_job(tick, "* * * * *")
    with pytest.raises(DuplicateJobId, match=r"tests\.test_scheduler:tick") as info:
        sched.add_job(tick, "*/5 * * * *")
    assert info.value.job_id == "tests.test_scheduler:tick"
    assert isinstance(info.value, ValueError)
    assert "replace_existing" in str(info.value)
    # the first job is untouched; a distinct id schedules it again
    assert sched.get_job("tests.test_scheduler:tick").trigger == Cron("* * * * *", timezone="UTC")
    sched.add_job(tick, "*/5 * * * *", id="tick-5")
    assert len(sched.get_jobs()) == 2


def test_duplicate_while_running_also_raises(sched: Scheduler) -> None:
    with sched:
        sched.add_job(tick, "* * * * *")
        with pytest.raises(DuplicateJobId):
            sched.add_job(tick, "* * * * *")


def test_replace_existing_swaps_the_job(sched: Scheduler, clock: VirtualClock) -> None:
    old, new = Calls(), Calls()
    sched.add_job(old, timedelta(minutes=1), id="j")
    with sched:
        replacement = sched.add_job(new, timedelta(minutes=10), id="j", replace_existing=True)
        assert sched.get_job("j") is replacement
        assert [j.id for j in sched.get_jobs()] == ["j"]
        clock.advance(minutes=10, scheduler=sched)
    assert old.count == 0
    assert new.count == 1


def test_get_jobs_get_job_and_job_not_found(sched: Scheduler) -> None:
    a = sched.add_job(tick, "* * * * *", id="a")
    b = sched.add_job(tick, "* * * * *", id="b")
    assert sched.get_jobs() == [a, b]
    assert sched.get_job("b") is b
    with pytest.raises(JobNotFound, match="'nope'") as info:
        sched.get_job("nope")
    assert info.value.job_id == "nope"
    assert isinstance(info.value, LookupError)


def test_remove_job(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    events = Recorder()
    sched.add_listener(events)
    sched.add_job(calls, timedelta(minutes=1), id="gone")
    with sched:
        sched.remove_job("gone")
        with pytest.raises(JobNotFound):
            sched.get_job("gone")
        with pytest.raises(JobNotFound):
            sched.remove_job("gone")
        clock.advance(minutes=5, scheduler=sched)
    assert calls.count == 0
    assert [e.job_id for e in events.of(JobRemoved)] == ["gone"]


def test_job_remove_method(sched: Scheduler) -> None:
    job = sched.add_job(tick, "* * * * *")
    job.remove()
    assert sched.get_jobs() == []


def test_paused_fires_do_not_run_and_resume_fires_from_now(
    sched: Scheduler, clock: VirtualClock
) -> None:
    calls = Calls(lambda: clock.now())
    job = sched.add_job(calls, timedelta(minutes=1), id="p")
    with sched:
        clock.advance(minutes=1, scheduler=sched)
        assert calls.count == 1
        assert sched.pause_job("p") is job
        assert job.paused
        assert job.next_run_time is None
        clock.advance(minutes=5, scheduler=sched)
        assert calls.count == 1  # no fire ran while paused
        sched.resume_job("p")
        # from now on: the next fire is the first one after the resume, not a backlog
        assert job.next_run_time == clock.now() + timedelta(minutes=1)
        clock.advance(minutes=2, scheduler=sched)
    assert calls.values == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=7),
        T0 + timedelta(minutes=8),
    ]
    assert [r.outcome for r in sched.get_runs("p")] == [RunOutcome.SUCCEEDED] * 3


def test_pause_and_resume_before_start(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    job = sched.add_job(calls, timedelta(minutes=1), id="p")
    job.pause()
    with sched:
        clock.advance(minutes=3, scheduler=sched)
        assert calls.count == 0
        job.resume()
        clock.advance(minutes=1, scheduler=sched)
    assert calls.count == 1


def test_pause_unknown_job_raises(sched: Scheduler) -> None:
    with pytest.raises(JobNotFound):
        sched.pause_job("nope")
    with pytest.raises(JobNotFound):
        sched.resume_job("nope")


def test_run_job_returns_a_future_with_the_result(sched: Scheduler) -> None:
    sched.add_job(tock, "0 3 * * *")
    with sched:
        assert sched.run_job("tests.test_scheduler:tock").result(timeout=5) == "tock"


def test_run_job_future_carries_the_exception(sched: Scheduler) -> None:
    def boom() -> None:
        raise KeyError("x")

    sched.add_job(boom, "0 3 * * *", id="boom")
    with sched:
        future = sched.run_job("boom")
        with pytest.raises(KeyError):
            future.result(timeout=5)


def test_run_job_sees_current_job_in_its_zone(sched: Scheduler) -> None:
    from scheduler import current_job

    def who() -> tuple[str, object]:
        ctx = current_job()
        assert ctx is not None
        return ctx.job_id, ctx.scheduled_time.tzinfo

    sched.add_job(who, Cron("0 3 * * *", timezone="America/New_York"), id="who")
    with sched:
        job_id, tz = sched.run_job("who").result(timeout=5)
    assert job_id == "who"
    assert tz == ZoneInfo("America/New_York")


def test_run_job_needs_a_running_scheduler_and_a_known_id(sched: Scheduler) -> None:
    sched.add_job(tock, "0 3 * * *")
    with pytest.raises(SchedulerNotRunning):
        sched.run_job("tests.test_scheduler:tock")
    with sched, pytest.raises(JobNotFound):
        sched.run_job("nope")


def test_next_run_time_is_aware_in_the_jobs_zone(clock: VirtualClock) -> None:
    sched = Scheduler(timezone="Australia/Lord_Howe", clock=clock)
    default_zone = sched.add_job(tick, "0 3 * * *", id="default")
    own_zone = sched.add_job(tick, Cron("0 3 * * *", timezone="Europe/Bratislava"), id="own")
    interval = sched.add_job(tick, timedelta(hours=1), id="interval")
    with sched:
        nxt = default_zone.next_run_time
        assert nxt is not None
        assert nxt.tzinfo == ZoneInfo("Australia/Lord_Howe")
        assert (nxt.hour, nxt.minute) == (3, 0)
        assert own_zone.next_run_time is not None
        assert own_zone.next_run_time.tzinfo == ZoneInfo("Europe/Bratislava")
        assert own_zone.next_run_time.utcoffset() == timedelta(hours=1)
        assert interval.next_run_time == T0 + timedelta(hours=1)
        assert interval.next_run_time.tzinfo is not None


def test_once_job_runs_once_then_leaves(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    events = Recorder()
    sched.add_listener(events, events=[JobAdded, JobRemoved])
    job = sched.add_job(calls, Once(T0 + timedelta(minutes=5)), id="once")
    with sched:
        assert job.next_run_time == T0 + timedelta(minutes=5)
        clock.advance(minutes=10, scheduler=sched)
        assert calls.count == 1
        assert job.next_run_time is None
        with pytest.raises(JobNotFound):
            sched.get_job("once")
        clock.advance(hours=1, scheduler=sched)
    assert calls.count == 1
    assert [type(e).__name__ for e in events.events] == ["JobAdded", "JobRemoved"]
    assert [r.outcome for r in sched.get_runs("once")] == [RunOutcome.SUCCEEDED]


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(seconds=1), -timedelta(days=400)])
def test_once_in_the_past_is_rejected(sched: Scheduler, offset: timedelta) -> None:
    with pytest.raises(InvalidTrigger, match="in the past"):
        sched.add_job(tick, Once(T0 + offset))
    assert sched.get_jobs() == []


def test_once_in_the_past_rejected_while_running(sched: Scheduler, clock: VirtualClock) -> None:
    with sched:
        clock.advance(hours=1, scheduler=sched)
        with pytest.raises(InvalidTrigger, match="in the past"):
            sched.add_job(tick, Once(T0 + timedelta(minutes=30)))


def test_job_added_while_running_fires(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    with sched:
        sched.add_job(calls, timedelta(seconds=30), id="late")
        clock.advance(minutes=1, scheduler=sched)
    assert calls.count == 2


def test_args_and_kwargs_reach_the_job(sched: Scheduler, clock: VirtualClock) -> None:
    calls = Calls()
    sched.add_job(calls, timedelta(minutes=1), id="a", args=(1, "two"), kwargs={"three": 3})
    with sched:
        clock.advance(minutes=1, scheduler=sched)
    assert calls.values == [((1, "two"), {"three": 3})]


def test_get_runs_is_newest_first_and_limited(sched: Scheduler, clock: VirtualClock) -> None:
    sched.add_job(tick, timedelta(minutes=1))
    with sched:
        clock.advance(minutes=5, scheduler=sched)
    runs = sched.get_runs(limit=3)
    assert [r.scheduled_time for r in runs] == [T0 + timedelta(minutes=m) for m in (5, 4, 3)]


def test_repr_and_state(sched: Scheduler) -> None:
    assert sched.state == "stopped"
    assert not sched.running
    sched.add_job(tick, "* * * * *")
    with sched:
        assert sched.running
        assert "running" in repr(sched)
        assert "jobs=1" in repr(sched)
        assert "tests.test_scheduler:tick" in repr(sched.get_jobs()[0])
    assert sched.state == "shut down"


def test_threads_are_named_and_daemonic(sched: Scheduler) -> None:
    with sched:
        names = {t.name: t.daemon for t in threading.enumerate()}
    assert names.get("scheduler-ticker") is True
