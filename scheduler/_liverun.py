"""A run that holds a lease, and its :class:`~scheduler.context.RunContext`, built when asked.

Most jobs never call :func:`~scheduler.current_job` and are never cancelled, so a run's
context and its ``cancel_event`` (an Event is a Condition and a lock) are built only when
something reads :attr:`LiveRun.ctx`: the job calling ``current_job()`` (through
:func:`scheduler.context._set_pending`), a ``run_context`` wrapper, a worker process, the
heartbeat or shutdown cancelling it. Until then a cancellation is a flag, which the event
takes on when it is built.

Threads and state
-----------------
* The pool thread that runs the fire owns the run; the heartbeat and shutdown set its flags
  (``timed_out``, ``fenced``) and cancel it; ``finishing`` is set under ``Runner._lock``.
* ``_ctx`` is built once, under the module's ``_BUILD`` lock (a leaf: nothing else is taken
  or called under it), so the job and a canceller always see the same event.
  A canceller raises ``_cancelled`` before it looks for the event; the builder publishes the
  context before it looks at the flag, and sets the new event when the flag is up: one of
  the two sees the other, so a cancellation is never lost between them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import RunContext
    from .job import Job
    from .stores import Claim

__all__ = ["LiveRun"]

_BUILD = threading.Lock()


class LiveRun:
    """One claimed fire being run: what the runner, the heartbeat and shutdown share."""

    __slots__ = (
        "_cancelled",
        "_ctx",
        "_new_context",
        "attempt",
        "claim",
        "deadline",
        "fenced",
        "finishing",
        "job",
        "last",
        "lease_until",
        "timed_out",
    )

    def __init__(
        self,
        *,
        job: Job,
        claim: Claim,
        new_context: Callable[..., RunContext],
        deadline: float | None,
        lease_until: float,
    ) -> None:
        self.job = job
        self.claim = claim
        self.attempt = claim.attempt  #: the attempt under way
        self.deadline = deadline  #: monotonic time of the timeout, or None
        self.lease_until = lease_until  #: monotonic estimate of the lease's expiry
        self.timed_out = False  #: set by the heartbeat
        self.fenced = False  #: set by the heartbeat
        #: its outcome is being written (set under Runner._lock): a renewal that finds the
        #: lease gone was overtaken by that write, and the write itself says whether it landed
        self.finishing = False
        #: what the last attempt's call gave: (ok, value, exception), for run_job's Future
        self.last: tuple[bool, Any, BaseException | None] | None = None
        self._new_context = new_context
        self._ctx: RunContext | None = None
        self._cancelled = False

    @property
    def ctx(self) -> RunContext:
        """The run's context (built on first use, with the attempt under way)."""
        ctx = self._ctx
        if ctx is None or ctx.attempt != self.attempt:
            with _BUILD:
                ctx = self._ctx
                if ctx is None:
                    claim = self.claim
                    event = threading.Event()
                    ctx = self._new_context(
                        job_id=self.job.id,
                        scheduled_time=claim.fire.scheduled_time.astimezone(self.job.timezone),
                        attempt=self.attempt,
                        cancel_event=event,
                        fencing_token=claim.token,
                        run_id=claim.run_id,
                    )
                    self._ctx = ctx  # published before the flag is read (see cancel())
                    if self._cancelled:
                        event.set()
                elif ctx.attempt != self.attempt:
                    from dataclasses import replace

                    ctx = self._ctx = replace(ctx, attempt=self.attempt)  # same cancel_event
        return ctx

    def context(self) -> RunContext:
        """:attr:`ctx`, for :func:`scheduler.current_job`."""
        return self.ctx

    def cancel(self) -> None:
        """Set the run's ``cancel_event`` (now, or when it is built)."""
        self._cancelled = True
        ctx = self._ctx
        if ctx is not None:
            ctx.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        """Whether its ``cancel_event`` is set (by us, or by the job itself)."""
        if self._cancelled:
            return True
        ctx = self._ctx
        return ctx is not None and ctx.cancel_event.is_set()
