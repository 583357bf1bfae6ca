"""The heartbeat thread: everything periodic that talks to the store, off the ticker.

Threads and state
-----------------
* Reads the runner's live runs (:meth:`Runner.live_runs`, a snapshot) and renews their
  leases every third of the lease, with this instance's row (:mod:`scheduler._presence`);
  a run whose lease could not be renewed is *fenced*: its ``cancel_event`` is set and its
  late outcome will be refused by the store.
* Sets ``cancel_event`` and reports a timeout when a run passes its deadline.
* Reaps expired leases of any instance (runs of killed processes become ``lost``) and, when
  the job allows retries, claims the next attempt.
* While the store is out (:class:`~scheduler._health.StoreHealth`), probes it with backoff;
  when it answers, places the fires that waited back in the registry.
* With a shared store, syncs the jobs added at run time (:mod:`scheduler._dynamic`); with a
  store that has its own clock, measures this host's skew (:mod:`scheduler._storetime`).

All of its state (the next deadline of each duty) lives in :meth:`Heartbeat._loop`'s locals,
on its own thread; it takes no lock of its own. It receives the pieces it uses and never
sees the Scheduler.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ._dynamic import SYNC_INTERVAL
from ._loop import LoopThread
from ._storetime import SKEW_INTERVAL
from .exceptions import StoreUnavailable

if TYPE_CHECKING:
    from ._clock import Clock
    from ._dynamic import DynamicSync
    from ._health import StoreHealth
    from ._presence import Presence
    from ._registry import JobRegistry
    from ._report import Reporter
    from ._runner import LiveRun, Runner
    from ._storetime import StoreTime
    from .stores import Owner, Store

__all__ = ["Heartbeat"]

#: the reaper looks for expired leases at least this far apart (seconds)
MIN_REAP_INTERVAL = 1.0


class Heartbeat(LoopThread):
    name = "scheduler-heartbeat"

    def __init__(
        self,
        *,
        clock: Clock,
        store: Store,
        owner: Owner,
        lease_seconds: float,
        runner: Runner,
        registry: JobRegistry,
        health: StoreHealth,
        sync: DynamicSync,
        store_time: StoreTime,
        reporter: Reporter,
        presence: Presence,
        wake: threading.Event | None = None,
    ) -> None:
        super().__init__(wake)
        self._clock = clock
        self._store = store
        self._owner = owner
        self._lease = lease_seconds
        self._runner = runner
        self._registry = registry
        self._health = health
        self._sync = sync
        self._store_time = store_time
        self._reporter = reporter
        self._presence = presence

    def _loop(self) -> None:
        clock = self._clock
        health = self._health
        lease = self._lease
        start = clock.monotonic()
        next_renew = start + lease / 3
        next_reap = start
        next_sync = start + SYNC_INTERVAL
        next_skew = start + SKEW_INTERVAL  # start() measured it before placing any fire
        next_probe = start
        measure_skew = self._store_time.measured
        while not self._stop.is_set():
            self._wake.clear()
            now = clock.monotonic()
            nearest = None
            try:
                nearest = self._deadlines(now)
                if health.out:
                    if now >= next_probe:
                        if self._probe():
                            next_reap = next_renew = now
                        else:
                            next_probe = now + health.probe.next()
                    self._self_fence(now)
                else:
                    health.settle_probe()
                    if now >= next_renew:
                        self._renew(now)
                        self._presence.beat()
                        next_renew = now + lease / 3
                    if now >= next_reap:
                        self._reap()
                        next_reap = now + max(MIN_REAP_INTERVAL, lease / 3)
                    self._registry.check_data_loss()
                    if self._store.shared and now >= next_sync:
                        self._sync.sync(place=self._runner.accepting)
                        next_sync = now + SYNC_INTERVAL
                    if measure_skew and now >= next_skew:
                        self._store_time.measure()
                        next_skew = now + SKEW_INTERVAL
            except StoreUnavailable as exc:
                health.failed(exc)
            except Exception:
                self._reporter.heartbeat_failed()
            self._count_pass()
            wait_until = min(next_renew, next_reap)
            if health.out:
                wait_until = min(wait_until, next_probe)
            if nearest is not None:
                wait_until = min(wait_until, nearest)
            clock.wait(self._wake, max(0.0, wait_until - clock.monotonic()))

    def _deadlines(self, now: float) -> float | None:
        nearest = None
        for run in self._runner.live_runs():
            if run.deadline is None or run.timed_out:
                continue
            if run.deadline <= now:
                self._runner.time_out(run)
            elif nearest is None or run.deadline < nearest:
                nearest = run.deadline
        return nearest

    def _renew(self, now: float) -> None:
        runs = [run for run in self._runner.live_runs() if not run.fenced]
        if not runs:
            return
        held = self._store.renew([run.claim for run in runs], lease_seconds=self._lease)
        for run in runs:
            if run.claim.run_id in held:
                run.lease_until = now + self._lease
            # A run that finished while the renewal was on its way released the lease with
            # its outcome: not a loss. Its finish reports a loss if there was one.
            elif not self._runner.is_finishing(run):
                self._fence(run, "the store no longer holds its lease")

    def _self_fence(self, now: float) -> None:
        """During an outage a lease cannot be renewed; once it has surely expired, a peer may
        run the job again, so this owner asks its run to stop."""
        for run in self._runner.live_runs():
            if not run.fenced and run.lease_until <= now:
                self._fence(run, "its lease expired while the store was unreachable")

    def _fence(self, run: LiveRun, why: str) -> None:
        run.fenced = True
        run.ctx.cancel_event.set()
        self._reporter.fenced(run.job, run.claim.fire.scheduled_time, why)

    def _reap(self) -> None:
        for lost in self._store.reap():
            self._reporter.lost(lost)
            job = self._registry.find(lost.job_id)
            if job is None or lost.attempt > job.options.retries or not self._runner.accepting:
                continue
            claim = self._store.retry_lost(
                lost.run_id, owner=self._owner, lease_seconds=self._lease
            )
            if claim is not None:
                self._runner.submit_claim(job, claim)

    def _probe(self) -> bool:
        try:
            self._store.ping()
        except StoreUnavailable:
            return False
        except Exception:  # not an outage: a bug of ours or the backend's; say so, go on
            self._reporter.probe_failed()
        # The backoff is kept: a store that flaps (answers the probe, fails the next claim)
        # is probed no faster than before; it resets once the store has stayed up.
        for job, fire in self._health.recovered():
            self._registry.place(job, fire)
        return True
