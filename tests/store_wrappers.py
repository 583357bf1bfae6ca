"""Store wrappers for the core tests: a real store underneath, with a fault or a hook on top.

:class:`Wrapped` hands every call to the store it wraps; subclasses override the calls they
need to break or to pause (to force an interleaving between threads without sleeping).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from scheduler._clock import Clock
from scheduler.exceptions import StoreUnavailable
from scheduler.stores import (
    Claim,
    FireKey,
    InstanceInfo,
    JobDefinition,
    Owner,
    Registration,
    RunOutcome,
    RunRecord,
    Store,
    StoredJob,
)


class Wrapped(Store):
    """Every call goes to ``inner``. ``now`` is not forwarded and ``server_clock`` stays
    False: the scheduler measures its skew only against a store that says it has a clock of
    its own."""

    def __init__(self, inner: Store) -> None:
        super().__init__(history_limit=inner.history_limit, history_max_age=inner.history_max_age)
        self.inner = inner
        self.durable = inner.durable
        self.shared = inner.shared

    @property  # type: ignore[override]
    def data_losses(self) -> int:
        return self.inner.data_losses

    def bind_clock(self, clock: Clock) -> None:
        super().bind_clock(clock)
        self.inner.bind_clock(clock)

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def ping(self) -> None:
        self.inner.ping()

    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        return self.inner.register(definition, owner=owner)

    def unregister(self, job_id: str) -> None:
        self.inner.unregister(job_id)

    def get_job(self, job_id: str) -> StoredJob | None:
        return self.inner.get_job(job_id)

    def load_jobs(self, *, dynamic_only: bool = True) -> list[StoredJob]:
        return self.inner.load_jobs(dynamic_only=dynamic_only)

    def mark_broken(self, job_id: str, reason: str) -> None:
        self.inner.mark_broken(job_id, reason)

    def claim(self, fire: FireKey, **kwargs: Any) -> Claim:
        return self.inner.claim(fire, **kwargs)

    def claim_missed(self, fire: FireKey, **kwargs: Any) -> bool:
        return self.inner.claim_missed(fire, **kwargs)

    def mark_started(self, claim: Claim, *, attempt: int) -> bool:
        return self.inner.mark_started(claim, attempt=attempt)

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        return self.inner.renew(claims, lease_seconds=lease_seconds)

    def finish(self, claim: Claim, *, outcome: RunOutcome, attempt: int, **kwargs: Any) -> bool:
        return self.inner.finish(claim, outcome=outcome, attempt=attempt, **kwargs)

    def reap(self) -> list[RunRecord]:
        return self.inner.reap()

    def retry_lost(self, run_id: str, *, owner: Owner, lease_seconds: float) -> Claim | None:
        return self.inner.retry_lost(run_id, owner=owner, lease_seconds=lease_seconds)

    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self.inner.get_runs(job_id, limit)

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.inner.get_run(run_id)

    def beat_instance(self, owner: Owner, **kwargs: Any) -> None:
        self.inner.beat_instance(owner, **kwargs)

    def remove_instance(self, instance: str) -> None:
        self.inner.remove_instance(instance)

    def list_instances(self) -> list[InstanceInfo]:
        return self.inner.list_instances()


class Switchable(Wrapped):
    """Refuses claims and probes with :class:`StoreUnavailable` while ``down`` is set (one
    instance's view of an outage; the data underneath stays)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the test took the store down")

    def ping(self) -> None:
        self._check()
        super().ping()

    def claim(self, fire: FireKey, **kwargs: Any) -> Claim:
        self._check()
        return super().claim(fire, **kwargs)

    def claim_missed(self, fire: FireKey, **kwargs: Any) -> bool:
        self._check()
        return super().claim_missed(fire, **kwargs)


class Shifted(Clock):
    """``base`` shifted by ``offset`` seconds (wall time only)."""

    def __init__(self, base: Clock, offset: float) -> None:
        self.base = base
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return self.base.wait(event, timeout)


class Skewed(Wrapped):
    """A store with a server clock ``behind`` seconds behind the scheduler's (the host's
    clock is fast), as PostgreSQL's or Redis's would be: anchors, leases and
    :meth:`now` all read it."""

    server_clock = True  # the capability the scheduler measures its skew against

    def __init__(self, inner: Store, behind: float) -> None:
        super().__init__(inner)
        self.behind = behind

    def bind_clock(self, clock: Clock) -> None:
        self.clock = clock
        self.inner.bind_clock(Shifted(clock, -self.behind))

    def now(self) -> datetime:
        return self.inner.now()


class PausedRenewal(Wrapped):
    """Once ``armed``, the next :meth:`renew` sets ``renewing`` and waits for ``release``
    before it reaches the store (a renewal that crosses a finishing run)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.armed = False
        self.renewing = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        if self.armed:
            self.armed = False
            self.renewing.set()
            assert self.release.wait(5.0), "the test never released the renewal"
        return super().renew(claims, lease_seconds=lease_seconds)

    def finish(self, claim: Claim, *, outcome: RunOutcome, attempt: int, **kwargs: Any) -> bool:
        done = super().finish(claim, outcome=outcome, attempt=attempt, **kwargs)
        self.finished.set()
        return done


class Losses:
    """The count of data losses a group of :class:`Lossy` stores have seen (each Redis store
    object notices the loss at its next call; here they all notice at once)."""

    def __init__(self) -> None:
        self.count = 0


class Lossy(Wrapped):
    """A SQLite store that can lose every row, as Redis restarted without persistence does,
    and says so through :attr:`data_losses` as the Redis store does."""

    def __init__(self, inner: Store, losses: Losses) -> None:
        super().__init__(inner)
        self.losses = losses

    @property  # type: ignore[override]
    def data_losses(self) -> int:
        return self.losses.count

    def wipe(self) -> None:
        import sqlite3

        prefix = self.inner.prefix  # type: ignore[attr-defined]
        with sqlite3.connect(self.inner.path) as conn:  # type: ignore[attr-defined]
            conn.execute(f"DELETE FROM {prefix}jobs")
            conn.execute(f"DELETE FROM {prefix}runs")
        self.losses.count += 1
