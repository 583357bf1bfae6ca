"""Claiming one fire: the store's answer, and what the runner does about a refusal.

Threads and state
-----------------
* Runs on the pool thread that is about to run the fire (called by ``Runner._fire``); it
  reads the job's anchor and effective trigger, which ``Scheduler._adopt_anchor`` changes
  (a pair of plain attribute writes: a reader sees the old grid or the new one, and a fire
  computed on the old grid is caught by the grid check below).
* Store I/O only; no user code. ``StoreUnavailable`` goes to the caller (the outage path).

A refusal is not always final. The claim names the earliest fire it folds and the anchor
its fire times count from, and the store refuses it when another instance has recorded a
fire it would count again, or keeps another grid. Then the fires are counted again from the
stored last fire, or the stored anchor is adopted and the fire re-placed on that grid; a
job whose row is gone is registered again when the store lost its data.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ._ticker import COALESCE_LIMIT
from .stores import Claim, ClaimStatus, FireKey

if TYPE_CHECKING:
    from .job import Job
    from .scheduler import Scheduler

__all__ = ["claim_fire"]

_ONE_US = timedelta(microseconds=1)
#: claims of one fire before giving up (each retry follows a change another instance made)
_CLAIM_TRIES = 8


def claim_fire(
    sched: Scheduler,
    job: Job,
    key: FireKey,
    coalesced: int,
    first: datetime,
    missed: str | None,
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
    store = sched.store
    fire = key.scheduled_time
    registered = False
    claim = Claim(status=ClaimStatus.TAKEN, fire=key)
    for _ in range(_CLAIM_TRIES):
        anchor = job._anchor if job._effective is not job.trigger else None
        if anchor is not None and job._effective.next_after(fire - _ONE_US) != fire:
            return None, coalesced  # computed on a grid this instance has since left
        covers = first if coalesced else None
        if missed is None:
            claim = store.claim(
                key,
                fingerprint=job._fingerprint,
                owner=sched.owner,
                max_instances=job.options.max_instances,
                lease_seconds=sched.lease_seconds,
                coalesced=coalesced,
                covers_from=covers,
                anchor=anchor,
            )
        else:
            # claim_missed answers yes or no: a refusal is looked into below as a TAKEN
            recorded = store.claim_missed(
                key,
                fingerprint=job._fingerprint,
                owner=sched.owner,
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
                if registered or not sched._register_again(job, stored):
                    return claim, coalesced
                registered = True  # try once more, on the grid the store now keeps
                continue
            if anchor is not None and stored.anchor != anchor:
                sched._adopt_anchor(job, stored.anchor)
                continue  # the fire is off the stored grid now: the check above says so
            if claim.status is ClaimStatus.SUPERSEDED:
                continue  # the row changed between the two reads: ask again
            recount = _recount(job, fire, first, stored.last_fire)
            if recount is not None:
                coalesced, first = recount
                continue
        return claim, coalesced
    return claim, coalesced


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
