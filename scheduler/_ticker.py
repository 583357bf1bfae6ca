"""The one ticker thread: finds due fires and hands them to the runner.

Threads and state
-----------------
* The heap of ``(due, seq, fire, job, version)`` belongs to this module and is guarded by
  ``Ticker._lock``. Any thread may push (``add_job``, a pool thread re-queueing a job); only
  the ticker thread pops.
* Entries are never removed from the middle: pausing, removing or re-scheduling a job bumps
  ``job._version``, and the ticker drops entries whose version is stale when it meets them.
  Stale entries of far-off fires would wait years to be met (adding and removing 10,000
  jobs a month out grew the heap by 10,000 entries a cycle), so they are counted and the
  heap is rebuilt without them once they outnumber the live ones: O(1) amortised, and the
  heap never holds more than twice the live entries (plus a small floor).
* A job is in the heap at most once. When its fire is handed to the pool the job leaves the
  heap, and the pool thread puts it back (with its next fire) when it picks the fire up.
  So a saturated pool holds at most one waiting fire per job: memory stays bounded, and the
  fires that pile up meanwhile are judged by the misfire and coalesce rules when the job
  comes back.

Assumptions: the ticker never runs job code, never does store I/O and never blocks on a job;
whatever goes wrong in its own code is logged and the loop goes on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ._log import safe_log
from ._loop import LoopThread

if TYPE_CHECKING:
    from .job import Job
    from .scheduler import Scheduler

__all__ = ["Ticker"]

log = logging.getLogger("scheduler.ticker")

#: upper bound on the overdue fires one coalesced run folds (a job down for years still
#: comes back in bounded time; the count saturates)
COALESCE_LIMIT = 100_000
#: due fires popped and handed over at a time
BATCH = 256
#: the heap is not compacted below this size (rebuilding a small heap would gain nothing)
COMPACT_FLOOR = 64


def jitter_offset(job_id: str, fire: datetime, jitter: float) -> timedelta:
    """The same delay in every process for one fire: derived from its key, not ``random``."""
    import hashlib  # only jobs with jitter need it
    digest = hashlib.blake2b(f"{job_id}@{fire.isoformat()}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return timedelta(seconds=fraction * jitter)


class Ticker(LoopThread):
    name = "scheduler-ticker"

    def __init__(self, scheduler: Scheduler, tick: float) -> None:
        super().__init__()
        self._sched = scheduler
        self._tick = tick
        self._lock = threading.Lock()
        self._heap: list[tuple[datetime, int, datetime, Job, int]] = []
        self._seq = itertools.count()
        # Invariant (under _lock): _members holds id(job) of every job with a live entry in
        # the heap, and _stale counts the heap's stale entries.
        self._members: set[int] = set()
        self._stale = 0

    # -- called from any thread ------------------------------------------------------------
    def push(self, job: Job, fire: datetime) -> None:
        """Put ``job`` in the heap for ``fire`` (aware UTC), replacing any entry it had."""
        jitter = job.options.jitter
        due = fire + jitter_offset(job.id, fire, jitter) if jitter else fire
        with self._lock:
            job._version += 1
            job._next_fire = fire
            job._due = due
            self._forget(job)
            self._members.add(id(job))
            entry = (due, next(self._seq), fire, job, job._version)
            heapq.heappush(self._heap, entry)
            earliest = self._heap[0] is entry
        if earliest:
            self._wake.set()

    def drop(self, job: Job) -> None:
        """Take ``job`` out of the heap (lazily: its entry goes stale)."""
        with self._lock:
            job._version += 1
            job._next_fire = None
            job._due = None
            self._forget(job)

    def _forget(self, job: Job) -> None:
        """The job's entry, if it had one, has just gone stale. Called with the lock held."""
        if id(job) not in self._members:
            return
        self._members.discard(id(job))
        self._stale += 1
        heap = self._heap
        if self._stale * 2 > len(heap) > COMPACT_FLOOR:
            heap[:] = [e for e in heap if e[4] == e[3]._version]
            heapq.heapify(heap)
            self._stale = 0

    def next_due(self) -> datetime | None:
        """When the earliest live entry is due (used by scheduler.testing)."""
        with self._lock:
            live = [e for e in self._heap if e[4] == e[3]._version]
        return min(live)[0] if live else None

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        clock = self._sched.clock
        while not self._stop.is_set():
            self._wake.clear()
            timeout = self._tick
            try:
                timeout = self._pass()
            except Exception:  # never let the ticker die
                safe_log(log, logging.ERROR, "ticker pass failed; carrying on", exc_info=True)
            self._count_pass()
            if self._stop.is_set():
                break
            clock.wait(self._wake, timeout)

    def _pass(self) -> float:
        """Dispatch everything due; return seconds until the next wake-up."""
        now = self._sched._now()
        while True:
            # In batches: with 20,000 fires due at once the first starts after a batch has
            # been handed over, not after all of them have been popped.
            due: list[tuple[datetime, Job]] = []
            with self._lock:
                heap = self._heap
                while heap and heap[0][0] <= now and len(due) < BATCH:
                    _, _, fire, job, version = heapq.heappop(heap)
                    if version == job._version:
                        job._version += 1  # the job leaves the heap until its fire is picked up
                        job._queued = True
                        self._members.discard(id(job))
                        due.append((fire, job))
                    elif self._stale:
                        self._stale -= 1
                while heap and heap[0][4] != heap[0][3]._version:
                    heapq.heappop(heap)  # stale heads would only shorten the next wait
                    if self._stale:
                        self._stale -= 1
                nxt = heap[0][0] if heap else None
            self._dispatch_all(due, now)
            if nxt is None or nxt > now:
                break
        if nxt is None:
            return self._tick
        return max(0.0, min(self._tick, (nxt - self._sched._now()).total_seconds()))

    def _dispatch_all(self, due: list[tuple[datetime, Job]], now: datetime) -> None:
        sched = self._sched
        for fire, job in due:
            try:
                self._dispatch(job, fire, now)
            except Exception:
                job._queued = False
                safe_log(
                    log,
                    logging.ERROR,
                    "could not dispatch job %s; it is rescheduled",
                    job.id,
                    exc_info=True,
                    extra={"job_id": job.id},
                )
                # The trigger that just failed may fail again here: that must not abort the
                # pass, or the other fires popped above would be lost with their jobs.
                try:
                    sched._reschedule_after(job, fire)
                except Exception:
                    safe_log(
                        log,
                        logging.ERROR,
                        "job %s: its trigger cannot compute the next fire; the job is not "
                        "scheduled again (add it again once its trigger is fixed)",
                        job.id,
                        exc_info=True,
                        extra={"job_id": job.id},
                    )

    def _dispatch(self, job: Job, fire: datetime, now: datetime) -> None:
        first = fire
        coalesced = 0
        if job.options.coalesce:
            trigger = job._effective
            nxt = trigger.next_after(fire)
            while nxt is not None and nxt <= now and coalesced < COALESCE_LIMIT:
                fire = nxt.astimezone(fire.tzinfo)
                coalesced += 1
                nxt = trigger.next_after(fire)
        self._sched._runner.submit(job, fire, coalesced, first)
