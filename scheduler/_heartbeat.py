"""The heartbeat thread: everything periodic that talks to the store, off the ticker.

Threads and state
-----------------
* Reads ``Runner.live`` (under the runner's lock) and renews those leases every third of
  the lease; a run whose lease could not be renewed is *fenced*: its ``cancel_event`` is set
  and its late outcome will be refused by the store.
* Sets ``cancel_event`` and reports a timeout when a run passes its deadline.
* Reaps expired leases of any instance (runs of killed processes become ``lost``) and, when
  the job allows retries, claims the next attempt.
* While the store is out, probes it with backoff; when it answers, hands the fires that
  waited back to the ticker (``Scheduler._store_ok``).
* With a shared store, loads jobs added at run time by other instances, and measures how far
  this host's clock is from the store's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ._log import safe_log
from ._loop import LoopThread
from .exceptions import StoreUnavailable

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["Heartbeat"]

log = logging.getLogger("scheduler.heartbeat")

SYNC_INTERVAL = 10.0
SKEW_INTERVAL = 60.0
SKEW_WARN = 2.0


class Heartbeat(LoopThread):
    name = "scheduler-heartbeat"

    def __init__(self, scheduler: Scheduler) -> None:
        super().__init__()
        self._sched = scheduler
        self._skew_warned = False
        self._probe_delay = 0.5

    def wake_for_deadline(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        sched = self._sched
        clock = sched.clock
        lease = sched.lease_seconds
        start = clock.monotonic()
        next_renew = start + lease / 3
        next_reap = start
        next_sync = start + SYNC_INTERVAL
        next_skew = start + SKEW_INTERVAL  # start() measured it before placing any fire
        next_probe = start
        own_clock = sched._store_has_clock
        while not self._stop.is_set():
            self._wake.clear()
            now = clock.monotonic()
            try:
                nearest = self._deadlines(now)
                if sched._outage_since is not None:
                    if now >= next_probe:
                        if self._probe():
                            next_reap = next_renew = now
                        else:
                            next_probe = now + self._probe_delay
                            self._probe_delay = min(self._probe_delay * 2, 10.0)
                    self._self_fence(now)
                else:
                    if self._probe_delay > 0.5 and sched._healthy_for(60.0):
                        self._probe_delay = 0.5
                    if now >= next_renew:
                        self._renew(now)
                        next_renew = now + lease / 3
                    if now >= next_reap:
                        self._reap()
                        next_reap = now + max(1.0, lease / 3)
                    sched._check_data_loss()
                    if sched.store.shared and now >= next_sync:
                        sched._sync_dynamic()
                        next_sync = now + SYNC_INTERVAL
                    if own_clock and now >= next_skew:
                        self.measure_skew()
                        next_skew = now + SKEW_INTERVAL
            except StoreUnavailable as exc:
                sched._store_failed(None, None, exc)
            except Exception:
                safe_log(log, logging.ERROR, "heartbeat pass failed; carrying on", exc_info=True)
            self._count_pass()
            wait_until = min(next_renew, next_reap)
            if sched._outage_since is not None:
                wait_until = min(wait_until, next_probe)
            if nearest is not None:
                wait_until = min(wait_until, nearest)
            clock.wait(self._wake, max(0.0, wait_until - clock.monotonic()))

    def _deadlines(self, now: float) -> float | None:
        runner = self._sched._runner
        nearest = None
        with runner._lock:
            runs = list(runner.live.values())
        for run in runs:
            if run.deadline is None or run.timed_out:
                continue
            if run.deadline <= now:
                runner.time_out(run)
            elif nearest is None or run.deadline < nearest:
                nearest = run.deadline
        return nearest

    def _renew(self, now: float) -> None:
        sched = self._sched
        runner = sched._runner
        with runner._lock:
            runs = [run for run in runner.live.values() if not run.fenced]
        if not runs:
            return
        held = sched.store.renew([run.claim for run in runs], lease_seconds=sched.lease_seconds)
        for run in runs:
            if run.claim.run_id in held:
                run.lease_until = now + sched.lease_seconds
                continue
            with runner._lock:
                # A run that finished while the renewal was on its way released the lease
                # with its outcome: not a loss. Its finish reports a loss if there was one.
                overtaken = run.finishing
            if not overtaken:
                self._fence(run, "the store no longer holds its lease")

    def _self_fence(self, now: float) -> None:
        """During an outage a lease cannot be renewed; once it has surely expired, a peer may
        run the job again, so this owner asks its run to stop."""
        runner = self._sched._runner
        with runner._lock:
            runs = [run for run in runner.live.values() if not run.fenced]
        for run in runs:
            if run.lease_until <= now:
                self._fence(run, "its lease expired while the store was unreachable")

    def _fence(self, run, why: str) -> None:  # type: ignore[no-untyped-def]
        run.fenced = True
        run.ctx.cancel_event.set()
        safe_log(
            log,
            logging.WARNING,
            "job %s, fire %s: %s; its cancel_event is set and its outcome will not be recorded",
            run.job.id,
            run.claim.fire.scheduled_time.isoformat(),
            why,
            extra={"job_id": run.job.id, "scheduled_time": run.claim.fire.scheduled_time},
        )

    def _reap(self) -> None:
        sched = self._sched
        for lost in sched.store.reap():
            safe_log(
                log,
                logging.WARNING,
                "job %s: the run of the fire at %s was lost (%s; owner %s)",
                lost.job_id,
                lost.scheduled_time.isoformat(),
                lost.error,
                lost.owner,
                extra={
                    "job_id": lost.job_id,
                    "scheduled_time": lost.scheduled_time.isoformat(),
                    "outcome": "lost",
                    "owner": lost.owner,
                },
            )
            if sched._events:
                sched._events.emit(
                    "JobLost",
                    timestamp=sched._now(),
                    job_id=lost.job_id,
                    scheduled_time=lost.scheduled_time,
                    attempt=lost.attempt,
                    owner=lost.owner,
                    reason=lost.error or "lease expired",
                )
            job = sched._jobs.get(lost.job_id)
            if job is None or lost.attempt > job.options.retries or not sched._accepting:
                continue
            claim = sched.store.retry_lost(
                lost.run_id, owner=sched.owner, lease_seconds=sched.lease_seconds
            )
            if claim is not None:
                sched._runner.submit_claim(job, claim)

    def _probe(self) -> bool:
        sched = self._sched
        try:
            sched.store.ping()
        except StoreUnavailable:
            return False
        except Exception:  # not an outage: a bug of ours or the backend's; say so, go on
            safe_log(log, logging.ERROR, "store probe failed unexpectedly", exc_info=True)
        # The backoff is kept: a store that flaps (answers the probe, fails the next claim)
        # is probed no faster than before; it resets once the store has stayed up.
        sched._store_ok()
        return True

    def measure_skew(self) -> None:
        """How far this host's clock is from the store's: ``Scheduler._now`` corrects by it.

        :raises StoreUnavailable: the store does not answer
        """
        sched = self._sched
        before = sched.clock.now()
        store_now = sched.store.now()
        after = sched.clock.now()
        local = before + (after - before) / 2
        skew = (local - store_now).total_seconds()
        sched._skew = skew
        if abs(skew) > SKEW_WARN and not self._skew_warned:
            self._skew_warned = True
            safe_log(
                log,
                logging.WARNING,
                "this host's clock is %.1fs %s the store's; fires are timed by the store's "
                "clock (fix NTP on this host)",
                abs(skew),
                "ahead of" if skew > 0 else "behind",
                extra={"clock_skew": skew},
            )
