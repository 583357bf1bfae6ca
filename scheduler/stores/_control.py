"""The store's control surface: a job paused for every instance, and runs asked for by hand.

Both are plain rows, so any process that can open the store can use them (a web worker whose
scheduler never started, a shell, ``scheduler run-job --queue``, the standalone dashboard):

* **Pause.** The job row keeps a ``paused`` flag (:meth:`ControlStore.set_paused`). Every
  running instance reads the ids of the paused jobs once per heartbeat
  (:meth:`ControlStore.paused_ids`, one indexed query) and pauses or resumes its copy.
* **Requests.** :meth:`ControlStore.request_run` inserts a run row with ``trigger="manual"``,
  no owner, no claim time and no outcome: a *queued* request, listed in the history as such.
  Its run id is the request's key. A running instance that has the job claims it
  (:meth:`ControlStore.claim_request`: one atomic step that takes a lease under
  ``max_instances``, or leaves it queued) and runs it as any claimed fire: renewed, fenced,
  reaped, retried and finished by the same calls. A request for a job whose row is gone is
  recorded ``skipped`` by whichever instance looks at it first.

A queued request has ``claimed_at`` None and ``outcome`` None; it holds no lease, so the
reaper never turns it into a lost run, and history pruning (finished runs only) keeps it.

Threads and state: an interface; the backends are thread-safe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from .._time import EPOCH

if TYPE_CHECKING:
    from . import Claim, Owner, RunRecord, StoredJob

__all__ = ["REMOVED_REASON", "ControlStore", "not_queued"]

#: the error text of a request whose job was removed before an instance took it
REMOVED_REASON = "the job was removed before the requested run started"


class ControlStore(ABC):
    """Pause flags and requested runs: every backend implements these."""

    @abstractmethod
    def set_paused(self, job_id: str, paused: bool) -> StoredJob:
        """Set the job's ``paused`` flag (kept across re-registration, dropped with the row).

        :returns: the stored job as it now is
        :raises JobNotFound: the store has no job of that id
        :raises StoreUnavailable: the store cannot be reached (nothing changed)
        """

    @abstractmethod
    def paused_ids(self) -> set[str]:
        """The ids of the jobs whose ``paused`` flag is set (read every heartbeat)."""

    @abstractmethod
    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        """Queue a run of the job, scheduled now by the store's clock: a run row with
        ``trigger="manual"`` and no owner, claim or outcome yet.

        :returns: the request's key, which is the ``run_id`` of the run it becomes
        :raises JobNotFound: the store has no job of that id
        """

    @abstractmethod
    def claim_manual(
        self, job_id: str, *, owner: Owner, lease_seconds: float, requested_by: str | None
    ) -> Claim:
        """A run asked for in this process (``run_job``, ``call_job``), requested and taken
        by ``owner`` in one atomic step (so no other instance can take it), whatever
        ``max_instances`` says: :meth:`request_run` then :meth:`claim_request`.

        :returns: the CLAIMED claim
        :raises JobNotFound: the store has no job of that id
        """

    @abstractmethod
    def queued_requests(self, job_id: str | None = None) -> int:
        """How many requested runs (of this job, or of every job) wait to be claimed."""

    @abstractmethod
    def queued_runs(self, limit: int = 100) -> list[RunRecord]:
        """The queued requests, oldest first (what an instance looks at each heartbeat)."""

    @abstractmethod
    def claim_request(
        self,
        run_id: str,
        *,
        owner: Owner,
        lease_seconds: float,
        max_instances: int | None,
    ) -> Claim:
        """Take a queued request, in one atomic step.

        CLAIMED (a fresh token from the job's fencing counter, a lease of ``lease_seconds``)
        when fewer than ``max_instances`` leases of the job are live (None: no limit, for a
        run asked for in this process); WAITING (left queued) when that many are; SKIPPED
        (recorded with :data:`REMOVED_REASON`) when the job's row is gone; TAKEN when the
        request is no longer queued (another instance took it) or unknown. Asked again by
        the owner that took it, while the run is open, it answers CLAIMED again with the
        same token (a claimant whose reply was lost can ask again).
        """


def not_queued() -> Claim:
    """The TAKEN answer about a run id that is not a queued request (it names no fire)."""
    from . import Claim, ClaimStatus, FireKey

    return Claim(status=ClaimStatus.TAKEN, fire=FireKey("", EPOCH))
