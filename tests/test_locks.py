"""No listener call and no store I/O while the job registry's lock is held (#11).

A listener may hand work to a pool thread and wait for it; a store may be slow. Either must
not stall other threads that only want to read the registry (``get_jobs``): these tests make
that other thread a pool thread the listener (or the store) waits for, so a lock held across
the call deadlocks. Every wait has a hang guard, so the old code fails instead of hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime
from typing import Any

import pytest

from scheduler import Scheduler, Trigger
from scheduler.events import Event, JobRemoved
from scheduler.stores import JobDefinition, Owner, Registration
from scheduler.stores.memory import MemoryStore
from scheduler.testing import VirtualClock
from tests.core_support import HANG, START


class Ended(Trigger):
    """A trigger that will not fire again: the job leaves the registry when it is placed."""

    def next_after(self, dt: datetime) -> datetime | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ended"}

    def describe(self) -> str:
        return "ended"


@pytest.fixture
def sched() -> Iterator[Scheduler]:
    s = Scheduler(clock=VirtualClock(START))
    yield s
    s.shutdown(timeout=1)


def in_thread(call: Callable[[], None]) -> None:
    """Run ``call`` on a helper thread and fail (not hang) if it does not return in time."""
    errors: list[BaseException] = []

    def go() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(HANG * 3)
    assert not thread.is_alive(), "deadlock: the call did not return"
    if errors:
        raise errors[0]


class WaitsForPool:
    """A JobRemoved listener that runs a registry read on a pool thread and waits for it."""

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.seen: list[Any] = []

    def __call__(self, event: Event) -> None:
        if not isinstance(event, JobRemoved) or event.job_id != "ends":
            return
        future: Future[Any] = self.sched.run_job("reader")  # on a pool thread
        try:
            self.seen.append(future.result(timeout=HANG))
        except TimeoutError:
            self.seen.append("timed out: the pool thread could not take the registry's lock")


def add_reader(sched: Scheduler) -> None:
    sched.add_job(lambda: len(sched.get_jobs()), "0 0 1 1 *", id="reader")


def test_listener_waiting_on_a_pool_thread_during_add_job(sched: Scheduler) -> None:
    """add_job of a job whose trigger has ended emits JobRemoved: the listener's pool thread
    reads the registry, which must not be locked by add_job meanwhile."""
    add_reader(sched)
    listener = WaitsForPool(sched)
    sched.add_listener(listener, [JobRemoved])
    sched.start()
    in_thread(lambda: sched.add_job(lambda: None, Ended(), id="ends"))
    assert listener.seen == [1]  # only "reader" is left
    assert [j.id for j in sched.get_jobs()] == ["reader"]


def test_listener_waiting_on_a_pool_thread_during_start(sched: Scheduler) -> None:
    """start() places every job; one that has ended is removed with a JobRemoved event."""
    add_reader(sched)
    sched.add_job(lambda: None, Ended(), id="ends")
    listener = WaitsForPool(sched)
    sched.add_listener(listener, [JobRemoved])
    in_thread(sched.start)
    assert listener.seen == [1]


class SlowStore(MemoryStore):
    """A store whose register waits until another thread has read the scheduler's jobs (a
    slow network round trip, made deterministic)."""

    sched: Scheduler | None = None
    read_in_time: bool | None = None

    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        if definition.id == "slow" and self.sched is not None:
            sched = self.sched
            done = threading.Event()

            def read() -> None:
                sched.get_jobs()
                done.set()

            threading.Thread(target=read, daemon=True).start()
            self.read_in_time = done.wait(HANG)
        return super().register(definition, owner=owner)


def test_no_store_io_under_the_registry_lock() -> None:
    """While add_job waits for the store, other threads can still list the jobs."""
    store = SlowStore()
    sched = Scheduler(clock=VirtualClock(START), store=store)
    store.sched = sched
    try:
        sched.start()
        in_thread(lambda: sched.add_job(lambda: None, "* * * * *", id="slow"))
        assert store.read_in_time, "no thread could list the jobs while the store was called"
    finally:
        sched.shutdown(timeout=1)
