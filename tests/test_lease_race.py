"""A lease renewal that crosses a finishing run is not a lost lease (issue 10, item 7).

"The store no longer holds its lease; its outcome will not be recorded" was logged for runs
that were then recorded ``succeeded``: the heartbeat took its list of live runs, the run
finished and released its lease with its outcome, and the renewal then found no lease. The
interleaving is forced with a store wrapper that holds the renewal back until the run has
finished; nothing sleeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from scheduler import Interval, Scheduler
from scheduler.stores import RunOutcome, Store
from scheduler.stores.memory import MemoryStore
from scheduler.stores.sqlite import SQLiteStore
from scheduler.testing import VirtualClock, settle

from .core_support import HANG, START, wait
from .store_wrappers import PausedRenewal

STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda tmp: MemoryStore(),
    "sqlite": lambda tmp: SQLiteStore(f"sqlite:///{tmp / 'jobs.db'}"),
}

release = threading.Event()
started = threading.Event()


def blocking() -> str:
    started.set()
    assert release.wait(HANG)
    return "done"


@pytest.mark.parametrize("kind", list(STORES))
def test_renewal_overtaken_by_the_finish_is_not_reported_lost(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    release.clear()
    started.clear()
    caplog.set_level(logging.DEBUG, logger="scheduler")
    clock = VirtualClock(START)
    store = PausedRenewal(STORES[kind](tmp_path))
    sched = Scheduler(store=store, clock=clock, lease_seconds=30)
    sched.add_job(blocking, Interval(hours=1), id="slow")
    with sched:
        clock.advance(hours=1, scheduler=sched, wait=False)
        wait(started, "the run to start")
        store.armed = True
        clock.advance(11)  # past a third of the lease: the heartbeat renews
        wait(store.renewing, "the renewal to set off")
        release.set()  # the run finishes and records its outcome meanwhile
        wait(store.finished, "the outcome to be written")
        store.release.set()  # only now does the renewal reach the store: no lease left
        settle(sched)
        sched._heartbeat.wait_for_fresh_pass(time.monotonic() + HANG)
    (run,) = sched.get_runs("slow")
    assert run.outcome is RunOutcome.SUCCEEDED
    assert "no longer holds its lease" not in caplog.text
    assert "outcome will not be recorded" not in caplog.text


def test_a_lease_really_lost_is_still_reported(caplog: pytest.LogCaptureFixture) -> None:
    """The other side: the store gave the lease up while the job still runs (a peer declared
    the run lost). The renewal says so, the run is asked to stop, and its late outcome is
    refused."""
    release.clear()
    started.clear()
    caplog.set_level(logging.DEBUG, logger="scheduler")
    clock = VirtualClock(START)
    store = PausedRenewal(MemoryStore())
    sched = Scheduler(store=store, clock=clock, lease_seconds=30)
    sched.add_job(blocking, Interval(hours=1), id="slow")
    with sched:
        clock.advance(hours=1, scheduler=sched, wait=False)
        wait(started, "the run to start")
        (live,) = sched._runner.live_runs()
        # what a peer's reaper does once the lease has expired
        assert store.inner.finish(live.claim, outcome=RunOutcome.LOST, attempt=1, error="peer")
        store.armed = True
        clock.advance(11)
        wait(store.renewing, "the renewal to set off")
        store.release.set()
        sched._heartbeat.wait_for_fresh_pass(time.monotonic() + HANG)
        assert live.ctx.cancel_event.is_set()
        release.set()
        settle(sched)
    (run,) = sched.get_runs("slow")
    assert run.outcome is RunOutcome.LOST
    assert caplog.text.count("the store no longer holds its lease") == 1
    assert "came after the lease was lost" in caplog.text
