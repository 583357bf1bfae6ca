"""The one ticker thread: finds due fires and hands them to the runner.

Threads and state
-----------------
* The heap of ``(due, job id, version, job)`` belongs to this module and is guarded by
  ``Ticker._lock``, and so are two fields of every job: ``job._version`` and
  ``job._next_fire`` (the fire of its live entry, if it has one). Any thread may push or
  drop (through the job registry, which holds its own lock around the call: registry lock,
  then ticker lock); only the ticker thread pops.
  ``_lock`` is otherwise a leaf: nothing is reported and no store is called under it.
* Entries are never removed from the middle: pausing, removing or re-scheduling a job bumps
  ``job._version``, and the ticker drops entries whose version is stale when it meets them.
  Stale entries of far-off fires would wait years to be met (adding and removing 10,000
  jobs a month out grew the heap by 10,000 entries a cycle), so they are counted and the
  heap is rebuilt without them once they outnumber the live ones: O(1) amortised, and the
  heap never holds more than twice the live entries (plus a small floor). Whether a job has
  a live entry is the parity of its version (odd: it has one), so that nothing else is
  kept per job (:func:`_queued`, :func:`_unqueued`).
* A job is in the heap at most once. When its fire is handed to the pool the job leaves the
  heap, and the pool thread puts it back (with its next fire) when it picks the fire up.
  So a saturated pool holds at most one waiting fire per job: memory stays bounded, and the
  fires that pile up meanwhile are judged by the misfire and coalesce rules when the job
  comes back.

The ticker receives what it uses: the clock (to wait), ``now`` (store time, to decide what is
due), the reporter, and, bound once the pieces exist (:meth:`Ticker.bind`), the runner's
``submit`` and the registry's ``reschedule_after``. It never sees the Scheduler.

Lag: before each wait the loop notes when it means to wake, by the scheduler's clock and by
the real monotonic clock (``_waiting``, one tuple rebound atomically); on waking it keeps
how late it woke (``_late``), the smaller of the two so that a virtual clock moved forward by
a test is not lag. :meth:`Ticker.lag` adds the time a wake or a pass is overdue right now,
so a stuck ticker shows. ``last_tick`` is the store time of the last pass. These are written
by the ticker thread only and read by any thread (``Scheduler.health()``).

Assumptions: the ticker never runs job code, never does store I/O and never blocks on a job;
whatever goes wrong in its own code is logged and the loop goes on.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ._loop import LoopThread

if TYPE_CHECKING:
    from ._clock import Clock
    from ._report import Reporter
    from .job import Job

__all__ = ["Ticker", "jitter_offset", "start_time"]

#: what the ticker hands a due fire to: ``(job, fire, coalesced, first)``
Submit = Callable[["Job", datetime, int, datetime], None]

#: upper bound on the overdue fires one coalesced run folds (a job down for years still
#: comes back in bounded time; the count saturates)
COALESCE_LIMIT = 100_000
#: due fires popped and handed over at a time
BATCH = 256
#: the heap is not compacted below this size (rebuilding a small heap would gain nothing)
COMPACT_FLOOR = 64


def start_time(job: Job, fire: datetime) -> datetime:
    """When ``fire`` of ``job`` starts: the fire time plus its jitter (the ticker hands it
    over then, and the claimer measures lateness from it)."""
    jitter = job.options.jitter
    return fire + jitter_offset(job.id, fire, jitter) if jitter else fire


def jitter_offset(job_id: str, fire: datetime, jitter: float) -> timedelta:
    """The same delay in every process for one fire: derived from its key, not ``random``."""
    import hashlib  # only jobs with jitter need it
    digest = hashlib.blake2b(f"{job_id}@{fire.isoformat()}".encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    return timedelta(seconds=fraction * jitter)


def _queued(version: int) -> int:
    """The next version of a job that gets a live entry: odd."""
    return version + 2 if version & 1 else version + 1


def _unqueued(version: int) -> int:
    """The next version of a job without a live entry: even."""
    return version + 1 if version & 1 else version + 2


class Ticker(LoopThread):
    name = "scheduler-ticker"

    def __init__(
        self,
        *,
        clock: Clock,
        now: Callable[[], datetime],
        tick: float,
        reporter: Reporter,
        wake: threading.Event | None = None,
    ) -> None:
        super().__init__(wake)
        self._clock = clock
        self._now = now
        self._tick = tick
        self._reporter = reporter
        self._submit: Submit | None = None
        self._reschedule: Callable[[Job, datetime], None] | None = None
        self._lock = threading.Lock()
        # Invariant: the heap, job._version and job._next_fire change only under _lock
        # entries: (due, job id, version, job): fires due at one instant go by id, and the
        # entries of one job (a stale one and the live one) by version, never by the job
        self._heap: list[tuple[datetime, str, int, Job]] = []
        # Invariant (under _lock): a job's version is odd while it has a live entry in the
        # heap, and _stale counts the heap's stale entries (compaction, see above)
        self._stale = 0
        # Invariant: the three below are rebound by the ticker thread only (see "Lag")
        self._waiting: tuple[float, float] | None = None
        self._late = 0.0
        self.last_tick: datetime | None = None

    def bind(self, submit: Submit, reschedule: Callable[[Job, datetime], None]) -> None:
        """Where due fires go (the runner) and who places a job again after a failed
        dispatch (the registry): set once, before :meth:`start`."""
        self._submit = submit
        self._reschedule = reschedule

    # -- called from any thread ------------------------------------------------------------
    def push(self, job: Job, fire: datetime) -> None:
        """Put ``job`` in the heap for ``fire`` (aware UTC), replacing any entry it had."""
        due = start_time(job, fire)
        with self._lock:
            self._forget(job)
            job._version = version = _queued(job._version)
            job._next_fire = fire
            entry = (due, job.id, version, job)
            heapq.heappush(self._heap, entry)
            earliest = self._heap[0] is entry
        if earliest:
            self._wake.set()

    def drop(self, job: Job) -> None:
        """Take ``job`` out of the heap (lazily: its entry goes stale)."""
        with self._lock:
            self._forget(job)
            job._next_fire = None

    def _forget(self, job: Job) -> None:
        """The job's entry, if it has one, goes stale (its version turns even). Called with
        the lock held."""
        version = job._version
        if not version & 1:
            return
        job._version = version + 1
        self._stale += 1
        heap = self._heap
        if self._stale * 2 > len(heap) > COMPACT_FLOOR:
            heap[:] = [e for e in heap if e[2] == e[3]._version]
            heapq.heapify(heap)
            self._stale = 0

    @staticmethod
    def out_after_fork(jobs: list[Job]) -> None:
        """In a forked child (one thread): the jobs are in no heap, the parent's ticker gone
        with its thread. Without the lock, which a vanished parent thread may hold."""
        for job in jobs:
            job._version = _unqueued(job._version)
            job._next_fire = None

    def next_due(self) -> datetime | None:
        """When the earliest live entry is due (used by scheduler.testing)."""
        with self._lock:
            live = [e for e in self._heap if e[2] == e[3]._version]
        return min(live)[0] if live else None

    def lag(self) -> float | None:
        """Seconds the loop is late now, or was late at its last wake (None: not running)."""
        if not self.alive:
            return None
        waiting = self._waiting
        if waiting is None:
            return self._late
        overdue = min(self._clock.monotonic() - waiting[0], time.monotonic() - waiting[1])
        return max(self._late, overdue, 0.0)

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        clock = self._clock
        while not self._stop.is_set():
            self._wake.clear()
            waiting = self._waiting
            if waiting is not None:
                late = min(clock.monotonic() - waiting[0], time.monotonic() - waiting[1])
                self._late = late if late > 0.0 else 0.0
            timeout = self._tick
            try:
                timeout = self._pass()
            except Exception:  # never let the ticker die
                self._reporter.ticker_failed()
            self._count_pass()
            if self._stop.is_set():
                break
            self._waiting = (clock.monotonic() + timeout, time.monotonic() + timeout)
            clock.wait(self._wake, timeout)

    def _pass(self) -> float:
        """Dispatch everything due; return seconds until the next wake-up."""
        now = self.last_tick = self._now()
        while True:
            # In batches: with 20,000 fires due at once the first starts after a batch has
            # been handed over, not after all of them have been popped.
            due: list[tuple[datetime, Job]] = []
            with self._lock:
                heap = self._heap
                while heap and heap[0][0] <= now and len(due) < BATCH:
                    _, _, version, job = heapq.heappop(heap)
                    if version == job._version:
                        job._version = version + 1  # out of the heap until its fire is picked up
                        fire = job._next_fire
                        assert fire is not None
                        due.append((fire, job))
                    elif self._stale:
                        self._stale -= 1
                while heap and heap[0][2] != heap[0][3]._version:
                    heapq.heappop(heap)  # stale heads would only shorten the next wait
                    if self._stale:
                        self._stale -= 1
                nxt = heap[0][0] if heap else None
            self._dispatch_all(due, now)
            if nxt is None or nxt > now:
                break
        if nxt is None:
            return self._tick
        return max(0.0, min(self._tick, (nxt - self._now()).total_seconds()))

    def _dispatch_all(self, due: list[tuple[datetime, Job]], now: datetime) -> None:
        assert self._reschedule is not None, "Ticker.bind() before start()"
        for fire, job in due:
            try:
                self._dispatch(job, fire, now)
            except Exception:
                self._reporter.dispatch_failed(job.id)
                # The trigger that just failed may fail again here: that must not abort the
                # pass, or the other fires popped above would be lost with their jobs.
                try:
                    self._reschedule(job, fire)
                except Exception:
                    self._reporter.trigger_failed(job.id)

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
        assert self._submit is not None, "Ticker.bind() before start()"
        self._submit(job, fire, coalesced, first)
