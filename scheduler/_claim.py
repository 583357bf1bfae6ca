"""Claiming one fire: the misfire check, the claim, and what follows from its answer.

A pool thread asks :meth:`FireClaimer.claim` to settle a due fire with the store before
anything runs: a fire later than ``misfire_grace_time`` is recorded as missed; else it is
claimed (forward only, fenced, at most ``max_instances`` leases). Only the claimant of a
CLAIMED fire runs it; a SKIPPED fire is recorded and reported; a TAKEN one was another
instance's; a SUPERSEDED one means another definition of the job won. When the store is out,
the job is parked and its first unsettled fire waits for the store (:mod:`scheduler._health`);
when the store refuses the fire's data, the fire is reported and the job goes on.

A refusal is not always final. The claim names the earliest fire it folds and the anchor
its fire times count from, and the store refuses it when another instance has recorded a
fire it would count again, or keeps another grid. Then the fires are counted again from the
stored last fire, or the stored anchor is adopted and the fire re-placed on that grid; a
job whose row is gone is registered again (:meth:`JobRegistry.register_again`).

Threads and state: called on pool threads, several at once; no state of its own besides
the pieces it was given. The claims of one job are made one at a time all the same: the
job's next fire is placed only once this one is settled. It reads the job's anchor and
anchored trigger, which registration rebinds (a reader sees the old grid or the new one,
and a fire computed on the old grid is caught by the grid check).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ._log import format_duration
from ._ticker import COALESCE_LIMIT, start_time
from ._time import ONE_US
from .exceptions import StoreDataError, StoreUnavailable
from .stores import Claim, ClaimStatus, FireKey

if TYPE_CHECKING:
    from ._health import StoreHealth
    from ._registry import JobRegistry
    from ._report import Reporter
    from .job import Job
    from .stores import Owner, Store

__all__ = ["FireClaimer"]

#: claims of one fire before giving up (each retry follows a change another instance made)
CLAIM_TRIES = 8


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

    def claim(
        self, job: Job, fire: datetime, coalesced: int, first: datetime
    ) -> tuple[Claim, int] | None:
        """Settle one due fire with the store: the CLAIMED claim to run and the number of
        earlier fires it folds, or None when it is recorded without a run (missed,
        skipped), taken by another instance, off the stored grid, refused, or waiting for
        the store. Places the job's next fire once this one is settled.

        :param first: the earliest fire folded into this one (where the job waits for the
            store if it is out)
        """
        registry = self._registry
        key = FireKey(job.id, fire)
        grace = job.options.misfire_grace_time
        late = 0.0 if grace is None else (self._now() - start_time(job, fire)).total_seconds()
        missed = None
        if grace is not None and late > grace:
            missed = (
                f"started {format_duration(late)} late, past misfire_grace_time ({grace:g} s)"
            )
            if self._health.covers(fire):
                missed += " (store_unavailable)"
        try:
            claim, coalesced = self._claim(job, key, coalesced, first, missed)
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
            return None  # not a fire of the stored grid: the job was placed on that grid
        if missed is not None:
            if claim.status is ClaimStatus.CLAIMED:  # recorded as missed by this call
                self._reporter.not_run("JobMissed", "missed", job, fire, missed)
            return None
        if claim.status is ClaimStatus.CLAIMED:
            return claim, coalesced
        if claim.status is ClaimStatus.SKIPPED:
            reason = f"max_instances ({job.options.max_instances}) reached"
            self._reporter.not_run("JobSkipped", "skipped", job, fire, reason)
        elif claim.status is ClaimStatus.SUPERSEDED:
            self._reporter.superseded(job.id, self._stored_summary(job.id))
        else:
            self._reporter.taken(key.key)
        return None

    def _claim(
        self, job: Job, key: FireKey, coalesced: int, first: datetime, missed: str | None
    ) -> tuple[Claim | None, int]:
        """Claim the fire, or with ``missed`` (the reason) record it as missed; returns the
        claim (for a missed fire: CLAIMED when this call recorded it) and the number of
        earlier fires it folds, or None when the fire is not on the stored grid (the store
        lost its data and the job was registered again, by this instance or another).

        The store refuses a claim whose folded fires overlap a fire another instance has
        recorded (instances that came back from an outage a second apart fold the same
        overdue fires): then the fires are counted again from the stored last fire, so
        that ``runs + folded = fires of the grid``.
        """
        store = self._store
        fire = key.scheduled_time
        registered = False
        claim = Claim(status=ClaimStatus.TAKEN, fire=key)
        for _ in range(CLAIM_TRIES):
            anchor = job._anchor if job._effective is not job.trigger else None
            if anchor is not None and job._effective.next_after(fire - ONE_US) != fire:
                return None, coalesced  # computed on a grid this instance has since left
            covers = first if coalesced else None
            if missed is None:
                claim = store.claim(
                    key,
                    fingerprint=job._fingerprint,
                    owner=self._owner,
                    max_instances=job.options.max_instances,
                    lease_seconds=self._lease_seconds,
                    coalesced=coalesced,
                    covers_from=covers,
                    anchor=anchor,
                )
            else:
                # claim_missed answers yes or no: a refusal is looked into below as a TAKEN
                recorded = store.claim_missed(
                    key,
                    fingerprint=job._fingerprint,
                    owner=self._owner,
                    reason=missed,
                    coalesced=coalesced,
                    covers_from=covers,
                    anchor=anchor,
                )
                status = ClaimStatus.CLAIMED if recorded else ClaimStatus.TAKEN
                claim = Claim(status=status, fire=key)
            if claim.status is ClaimStatus.SUPERSEDED or (
                claim.status is ClaimStatus.TAKEN and (coalesced or missed is not None)
            ):
                stored = store.get_job(job.id)
                if stored is None or stored.fingerprint != job._fingerprint or stored.broken:
                    if registered or not self._registry.register_again(job, stored):
                        return claim, coalesced
                    registered = True  # try once more, on the grid the store now keeps
                    continue
                if anchor is not None and stored.anchor != anchor:
                    self._registry.adopt_anchor(job, stored.anchor)
                    continue  # the fire is off the stored grid now: the check above says so
                if claim.status is ClaimStatus.SUPERSEDED:
                    continue  # the row changed between the two reads: ask again
                recount = _recount(job, fire, first, stored.last_fire)
                if recount is not None:
                    coalesced, first = recount
                    continue
            return claim, coalesced
        return claim, coalesced

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


def _recount(
    job: Job, fire: datetime, first: datetime, last: datetime | None
) -> tuple[int, datetime] | None:
    """The fires before ``fire`` that are still to be accounted for, given the stored last
    claimed fire ``last``: ``(count, earliest)``, or None when there is nothing to count
    again (``fire`` itself is taken, or the refusal was not an overlap)."""
    if last is None or last < first or last >= fire:
        return None
    trigger = job._effective
    nxt = trigger.next_after(last)
    count = 0
    earliest = fire
    while nxt is not None and nxt < fire and count < COALESCE_LIMIT:
        if not count:
            earliest = nxt.astimezone(fire.tzinfo)
        count += 1
        nxt = trigger.next_after(nxt)
    return count, earliest
