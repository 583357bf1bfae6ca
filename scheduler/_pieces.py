"""Wiring: build the pieces of one scheduler, each with the pieces it uses.

No piece receives the Scheduler. Dependencies point one way, from the threads to what they
share::

    Ticker ──submit──► Runner ──► JobRegistry ──push/drop──► Ticker (heap)
       │                 │  │         ▲
       │                 │  └──► StoreHealth ◄── Heartbeat ──► Runner (live runs)
       └──► Reporter ◄───┴─────────────────────────┘   ├──► DynamicSync ──► JobRegistry
                                                       └──► Control ──► JobRegistry, Runner

The ticker learns where due fires go (the runner) once both exist (:meth:`Ticker.bind`); the
runner and the store's health wake the heartbeat through a shared :class:`threading.Event`
rather than a reference to it.

Threads and state: :class:`Pieces` is immutable; it is built in ``Scheduler.__init__`` and
again in a forked child (every lock new), never while the scheduler runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ._control import Control
from ._dynamic import DynamicSync, MakeJob
from ._health import StoreHealth
from ._heartbeat import Heartbeat
from ._pool import DaemonPool
from ._presence import Presence
from ._preview import StorePreview
from ._proclazy import LazyProcessPool
from ._registry import JobRegistry
from ._report import Reporter
from ._runner import Runner
from ._settings import Settings
from ._storetime import StoreTime
from ._ticker import Ticker

if TYPE_CHECKING:
    from ._clock import Clock
    from ._refs import Allowlist
    from .context import RunContext
    from .job import Job
    from .stores import Owner, Store, StoredJob

__all__ = ["Pieces", "build_pieces"]

#: the longest shutdown waits for the ticker thread to stop (seconds)
TICKER_STOP_TIMEOUT = 5.0
#: how long shutdown waits for the heartbeat thread to stop (seconds)
HEARTBEAT_STOP_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Pieces:
    """The pieces of one scheduler."""

    now: Callable[[], datetime]  #: store time (:meth:`StoreTime.now`)
    reporter: Reporter
    store_time: StoreTime
    health: StoreHealth
    ticker: Ticker
    registry: JobRegistry
    sync: DynamicSync
    pool: DaemonPool
    processes: LazyProcessPool
    runner: Runner
    heartbeat: Heartbeat
    preview: StorePreview
    control: Control
    presence: Presence

    def place_jobs(self, store: Store) -> None:
        """At ``start()``, with the store open: measure the skew before placing any fire
        (fires are timed by the store's clock: placed by a clock an hour fast, the first
        would wait an hour), accept fires, load the jobs added at run time, and register and
        place every job.

        :raises StoreUnavailable: the store does not answer
        """
        if store.server_clock:
            self.store_time.measure()
        self.runner.accepting = True
        if store.durable:
            self.sync.sync(place=False)
        self.control.load_paused()  # a job paused in the store is not placed
        self.registry.activate_all()
        self.presence.join()

    def start_threads(self) -> None:
        """Start the ticker and the heartbeat (the pool starts threads as fires come)."""
        self.ticker.start()
        self.heartbeat.start()

    def stop(self, *, wait: bool, timeout: float) -> tuple[bool, list[str]]:
        """Stop in order: the ticker (no new fires), every run's ``cancel_event``, then
        (with ``wait``) the runs themselves for up to ``timeout`` seconds, the heartbeat and
        the pool. Returns whether every run finished, and the ids of those left behind."""
        self.runner.stop_accepting()
        self.ticker.stop(timeout=min(timeout, TICKER_STOP_TIMEOUT) or 0.1)
        self.runner.cancel_all()
        if wait:
            self.runner.wait_idle(timeout)
        self.runner.stop_processes()
        still = self.runner.still_running()
        self.runner.release_timed_out()
        clean = not still and (wait or self.runner.inflight == 0)
        if still:
            self.reporter.left_behind(still, timeout)
        self.heartbeat.stop(timeout=HEARTBEAT_STOP_TIMEOUT)
        self.presence.leave()
        self.pool.shutdown(wait=False, cancel_futures=True)
        return clean, still


def build_pieces(
    *,
    settings: Settings,
    store: Store,
    owner: Owner,
    clock: Clock,
    reporter: Reporter,
    make_job: MakeJob,
    make_view: Callable[[StoredJob], Job],
    new_context: Callable[..., RunContext],
    allowed: Allowlist,
    jobs: Iterable[Job],
) -> Pieces:
    """Build and wire the pieces; ``jobs`` are registered (not placed) in the registry."""
    tick, lease_seconds, run_context = settings.tick, settings.lease_seconds, settings.run_context
    store_time = StoreTime(clock, store, reporter)
    now = reporter.now = store_time.now
    beat = threading.Event()  # wakes the heartbeat: set by the runner and store health
    health = StoreHealth(now, reporter, type(store).__name__, beat.set)
    ticker = Ticker(clock=clock, now=now, tick=tick, reporter=reporter)
    registry = JobRegistry(
        store=store,
        owner=owner,
        ticker=ticker,
        reporter=reporter,
        now=now,
        forget=health.forget,
        jobs=jobs,
    )
    sync = DynamicSync(
        store=store,
        registry=registry,
        reporter=reporter,
        timezone=settings.timezone,
        make_job=make_job,
        allowed=allowed,
    )
    pool = DaemonPool(settings.max_workers)
    processes = LazyProcessPool(
        settings.max_processes, settings.max_runs_per_process, run_context
    )
    runner = Runner(
        store=store,
        owner=owner,
        lease_seconds=lease_seconds,
        clock=clock,
        now=now,
        registry=registry,
        health=health,
        reporter=reporter,
        pool=pool,
        run_context=run_context,
        processes=processes,
        wake_heartbeat=beat.set,
        new_context=new_context,
    )
    ticker.bind(runner.submit, registry.reschedule_after)
    preview = StorePreview(store=store, now=now, reporter=reporter, make_view=make_view)
    control = Control(
        store=store,
        owner=owner,
        lease_seconds=lease_seconds,
        registry=registry,
        runner=runner,
        reporter=reporter,
        now=now,
        new_context=new_context,
        wake_heartbeat=beat.set,
        preview=preview,
    )
    presence = Presence(
        store=store, owner=owner, lease_seconds=lease_seconds, now=now,
        running=runner.still_running,
    )  # fmt: skip
    heartbeat = Heartbeat(
        clock=clock,
        store=store,
        owner=owner,
        lease_seconds=lease_seconds,
        runner=runner,
        registry=registry,
        health=health,
        sync=sync,
        store_time=store_time,
        reporter=reporter,
        control=control,
        presence=presence,
        wake=beat,
    )
    return Pieces(
        now=now,
        reporter=reporter,
        store_time=store_time,
        health=health,
        ticker=ticker,
        registry=registry,
        sync=sync,
        pool=pool,
        processes=processes,
        runner=runner,
        heartbeat=heartbeat,
        preview=preview,
        control=control,
        presence=presence,
    )
