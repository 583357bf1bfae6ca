"""Scheduler.instances() and Scheduler.health() (#12) in one process, on virtual time.

Real processes (a SIGKILLed instance, a store cut by the fault proxy) are in
tests/reliability/test_observe.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

import scheduler
from scheduler import Health, InstanceInfo, Interval, Scheduler
from scheduler.scheduler import pieces_of
from scheduler.testing import VirtualClock, settle
from tests.core_support import HANG, START, wait

GATE = threading.Event()
STARTED = threading.Event()


def blocked() -> None:
    STARTED.set()
    GATE.wait(60)  # hang guard: every test sets GATE


def quick() -> None:
    pass


@pytest.fixture(autouse=True)
def gate() -> Iterator[None]:
    GATE.clear()
    STARTED.clear()
    yield
    GATE.set()  # a failed test leaves no thread blocked


def test_instances_before_start_while_running_and_after_shutdown() -> None:
    sched = Scheduler(clock=VirtualClock(START))
    assert sched.instances() == []  # never started: nothing registered, nothing raised
    sched.start()
    try:
        (info,) = sched.instances()
        assert isinstance(info, InstanceInfo)
        assert info.instance == str(sched.owner)
        assert (info.host, info.pid) == (os.uname().nodename, os.getpid())
        assert info.version == scheduler.__version__
        assert info.running == ()
        assert info.lease_expires - info.last_heartbeat == timedelta(seconds=sched.lease_seconds)
        json.dumps(info.to_dict())
    finally:
        sched.shutdown()
    assert sched.instances() == []  # removed on shutdown


def test_an_instance_shows_the_jobs_it_is_running() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock, lease_seconds=3.0)
    sched.add_job(blocked, Interval(minutes=1), id="slow")
    with sched:
        clock.advance(minutes=1, scheduler=sched, wait=False)
        wait(STARTED, "the job to start")
        clock.advance(seconds=2, scheduler=sched, wait=False)  # past a heartbeat (lease / 3)
        assert [info.running for info in sched.instances()] == [("slow",)]
        GATE.set()
        settle(sched)
        clock.advance(seconds=2, scheduler=sched)
        pieces_beat(sched)
        assert [info.running for info in sched.instances()] == [()]


def pieces_beat(sched: Scheduler) -> None:
    """Let the heartbeat complete a pass (it refreshes the row every lease / 3)."""
    pieces_of(sched).heartbeat.wait_for_fresh_pass(time.monotonic() + HANG)


def ticker_pass(sched: Scheduler) -> None:
    pieces_of(sched).ticker.wait_for_fresh_pass(time.monotonic() + HANG)


def test_a_scheduler_that_never_started_sees_the_running_ones(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    running = Scheduler(store=url)
    web = Scheduler(store=url)  # a web worker with autostart off
    running.start()
    try:
        assert [info.instance for info in web.instances()] == [str(running.owner)]
    finally:
        running.shutdown()
    assert web.instances() == []
    assert web.state == "stopped"


def test_health_of_a_scheduler_that_is_not_running() -> None:
    sched = Scheduler(clock=VirtualClock(START))
    health = sched.health()
    assert isinstance(health, Health)
    assert not health.ok
    assert health.reasons == ["the scheduler is not running (state: stopped)"]
    assert health.store_reachable  # asked: a memory store always answers
    assert (health.ticker_lag, health.last_tick, health.jobs_running) == (None, None, 0)
    sched.start()
    sched.shutdown()
    assert sched.health().reasons == ["the scheduler is not running (state: shut down)"]


def test_health_of_a_running_scheduler() -> None:
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    sched.add_job(quick, Interval(minutes=1), id="quick")
    with sched:
        clock.advance(minutes=3, scheduler=sched)
        health = sched.health()
        assert health.ok, health.reasons
        assert health.reasons == []
        assert health.store_reachable
        assert health.ticker_lag is not None and health.ticker_lag >= 0.0
        assert health.last_tick == clock.now()
        assert (health.jobs_running, health.overdue, health.queued_requests) == (0, [], 0)
        data = json.loads(json.dumps(health.to_dict()))
        assert data["ok"] is True and data["last_tick"] == clock.now().isoformat()
        assert data["view"] == "process" and "instances" not in data


def test_a_job_stuck_behind_a_full_pool_is_overdue_until_it_gets_a_thread() -> None:
    """One worker, held by a long run: the other job's fire waits past its grace."""
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock, max_workers=1, lease_seconds=600.0)
    sched.add_job(blocked, Interval(seconds=30), id="hog")
    sched.add_job(quick, Interval(minutes=1), id="starved", misfire_grace_time=30)
    with sched:
        clock.advance(seconds=30, scheduler=sched, wait=False)
        wait(STARTED, "the hog to start")
        assert sched.health().ok
        # Time passes while the one thread is held (advance(scheduler=...) would wait for
        # the queued fires): the starved job's fire, due at 60 s, waits in the queue.
        clock.advance(seconds=70)
        ticker_pass(sched)
        health = sched.health()
        assert not health.ok
        assert health.overdue == ["starved"]
        assert health.jobs_running == 1
        assert health.reasons == ["1 job(s) overdue past their grace: starved"]
        GATE.set()
        settle(sched)  # the starved fire gets the thread (recorded missed), the next is placed
        assert sched.health().overdue == []
        assert sched.health().ok


def test_a_stuck_ticker_makes_the_scheduler_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault is real time without a ticker pass (its lock held, as a stuck pass would),
    so this test holds it for half a second; the bound is lowered to keep that short."""
    from scheduler import _probe

    monkeypatch.setattr(_probe, "MAX_TICKER_LAG", 0.2)
    sched = Scheduler(tick=0.05)
    with sched:
        ticker = pieces_of(sched).ticker
        ticker.wait_for_fresh_pass(time.monotonic() + HANG)
        with ticker._lock:  # the ticker's next pass waits here
            time.sleep(0.5)  # the fault itself, not a wait for a thread
            health = sched.health()
        assert not health.ok
        assert health.ticker_lag is not None and health.ticker_lag > 0.2
        assert [r.split(" late")[0] for r in health.reasons] == [
            f"the ticker is {health.ticker_lag:.1f}s"
        ]
        monkeypatch.undo()  # the real bound (a loaded test machine may wake a little late)
        ticker.wait_for_fresh_pass(time.monotonic() + HANG)  # it runs again
        health = sched.health()
        assert health.ok, health.reasons
