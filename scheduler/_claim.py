"""Claiming one fire: the misfire check, the claim, and what follows from its answer.

A pool thread asks :meth:`FireClaimer.claim` to settle a due fire with the store before
anything runs: a fire later than ``misfire_grace_time`` is recorded as missed; else it is
claimed (forward only, fenced, at most ``max_instances`` leases). Only the claimant of a
CLAIMED fire runs it; a SKIPPED fire is recorded and reported; a TAKEN one was another
instance's; a SUPERSEDED one means another definition of the job won. When the store is out,
the job is parked and its first unsettled fire waits for the store (:mod:`scheduler._health`);
when the store refuses the fire's data, the fire is reported and the job goes on.

Threads and state: called on pool threads, several at once; no state of its own besides
the pieces it was given. The claims of one job are made one at a time all the same: the
job's next fire is placed only once this one is settled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ._log import format_duration
from ._ticker import start_time
from .exceptions import StoreDataError, StoreUnavailable
from .stores import Claim, ClaimStatus, FireKey

if TYPE_CHECKING:
    from ._health import StoreHealth
    from ._registry import JobRegistry
    from ._report import Reporter
    from .job import Job
    from .stores import Owner, Store

__all__ = ["FireClaimer"]


class FireClaimer:
    def __init__(
        self,
        *,
        store: Store,
        owner: Owner,
        lease_seconds: float,
        now: Callable[[], datetime],
        registry: JobRegistry,
        health: StoreHealth,
        reporter: Reporter,
    ) -> None:
        self._store = store
        self._owner = owner
        self._lease_seconds = lease_seconds
        self._now = now
        self._registry = registry
        self._health = health
        self._reporter = reporter

    def claim(self, job: Job, fire: datetime, coalesced: int, first: datetime) -> Claim | None:
        """Settle one due fire with the store: the CLAIMED claim to run, or None when it is
        recorded without a run (missed, skipped), taken by another instance, refused, or
        waiting for the store. Places the job's next fire once this one is settled.

        :param first: the earliest fire folded into this one (where the job waits for the
            store if it is out)
        """
        registry = self._registry
        key = FireKey(job.id, fire)
        late = (self._now() - start_time(job, fire)).total_seconds()
        grace = job.options.misfire_grace_time
        try:
            if grace is not None and late > grace:
                reason = (
                    f"started {format_duration(late)} late, past misfire_grace_time "
                    f"({grace:g} s)"
                )
                if self._health.covers(fire):
                    reason += " (store_unavailable)"
                recorded = self._store.claim_missed(
                    key,
                    fingerprint=job._fingerprint,
                    owner=self._owner,
                    reason=reason,
                    coalesced=coalesced,
                )
                claim = None
            else:
                claim = self._claim(job, key, coalesced)
        except StoreUnavailable as exc:
            # The job waits for the store from the first fire not yet settled (so the fires
            # folded into this one are judged again, not lost).
            waiting = (job, first) if registry.park(job) else None
            self._health.failed(exc, waiting)
            return None
        except StoreDataError as exc:
            # The store answered and refused this fire's data: not an outage (no probing, no
            # waiting), and retrying would fail the same way. The job goes on.
            self._reporter.refused(job, fire, exc)
            registry.reschedule_after(job, fire)
            return None
        # Only now does the job's next fire go back to the ticker: the claims of one job's
        # fires are made in order, one at a time, so a later fire is never claimed while an
        # earlier one is still waiting for the store (the forward-only claim would then
        # leave the earlier one to nobody). The next fire can still overlap this run.
        registry.reschedule_after(job, fire)
        if self._health.out:
            for waiting_job, waiting_fire in self._health.recovered():
                registry.place(waiting_job, waiting_fire)
        if claim is None:
            if recorded:
                self._reporter.not_run("JobMissed", "missed", job, fire, reason)
            return None
        if claim.status is ClaimStatus.CLAIMED:
            return claim
        if claim.status is ClaimStatus.SKIPPED:
            reason = f"max_instances ({job.options.max_instances}) reached"
            self._reporter.not_run("JobSkipped", "skipped", job, fire, reason)
        elif claim.status is ClaimStatus.SUPERSEDED:
            self._reporter.superseded(job.id, self._stored_summary(job.id))
        else:
            self._reporter.taken(key.key)
        return None

    def _claim(self, job: Job, key: FireKey, coalesced: int) -> Claim:
        def attempt() -> Claim:
            return self._store.claim(
                key,
                fingerprint=job._fingerprint,
                owner=self._owner,
                max_instances=job.options.max_instances,
                lease_seconds=self._lease_seconds,
                coalesced=coalesced,
            )

        claim = attempt()
        if claim.status is ClaimStatus.SUPERSEDED and not job.dynamic:
            if self._store.get_job(job.id) is None:
                # The row is gone although this code declares the job: the store lost its
                # data (Redis restarted without persistence, a failover, a wiped table).
                # Declared jobs belong to the code, so register again and claim once more.
                self._store.register(job.get_definition(), owner=self._owner)
                self._reporter.reregistered(job.id)
                claim = attempt()
        return claim

    def _stored_summary(self, job_id: str) -> str:
        """What the store holds for a job whose claim was superseded (for the warning)."""
        try:
            stored = self._store.get_job(job_id)
        except Exception:
            return "unknown"
        if stored is None:
            return "none: the job was removed from the store"
        d = stored.definition
        return (
            f"{d.func_ref} trigger={d.trigger} args={d.args} kwargs={d.kwargs}, registered by "
            f"{stored.registered_by} at {stored.registered_at.isoformat()}"
        )

    def refuse_at_shutdown(self, job: Job, fire: datetime) -> None:
        """A fire that was due but not started when shutdown began. With a shared store a
        peer (or this app's next start, by the catch-up rules) takes it; alone, record it."""
        if self._store.shared:
            return
        reason = "scheduler shut down before the fire started"
        with contextlib.suppress(Exception):
            if self._store.claim_missed(
                FireKey(job.id, fire),
                fingerprint=job._fingerprint,
                owner=self._owner,
                reason=reason,
            ):
                self._reporter.not_run("JobMissed", "missed", job, fire, reason)
