"""What the Celery and RQ senders share: ids derived from the fire key, a readable result,
and what each scheduler allowed them to name.

A fire handed to Celery or RQ is an ordinary job whose function is a small sender in
:mod:`scheduler.contrib.celery` or :mod:`scheduler.contrib.rq`. It is claimed once in the store
like any fire, then sent with an id derived from its fire key, so the same fire always carries
the same task or job id (a retried send cannot make a second, different task).

The trust rule (docs/security.md) reaches into the senders' arguments: a Celery app reference
is imported, a task name or RQ function is run by a worker, a Redis URL is connected to. A job
added at run time keeps them in the store, where a writer of the store could change them. So
each scheduler keeps :class:`Grants`, what its own code named (``add_celery_task``,
``add_rq_job``, ``celery-beat``, ``allow_celery``, ``allow_rq``) plus its ``allowed_modules``,
and a sender's arguments are checked against them, as text, before anything is imported or
connected to: when a stored job is loaded (the sender is registered with ``sched.task`` and a
check, so a refused job is marked broken) and again at every send (the run fails).

Threads and state: grants are written by the code that sets the scheduler up (any thread)
and read on the heartbeat thread (loading) and the pool threads (sending); each
:class:`Grants` guards its sets with its own lock, :data:`_grants` with :data:`_grants_lock`.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._refs import dotted, under_modules
from ..context import RunContext, current_job
from ..exceptions import InvalidJob
from ..stores import FireKey

if TYPE_CHECKING:
    from ..scheduler import Scheduler

__all__ = ["Grants", "SentId", "fire_uuid", "grants_for", "grants_of_run", "run_context"]

#: fixed namespace of the uuid5 ids: every process derives the same id from the same fire
_NAMESPACE = uuid.UUID("6f0c4d1e-5b7a-5c3e-9a41-2d8e0b7f1c55")


def fire_uuid(job_id: str, scheduled_time: datetime) -> str:
    """The task / job id of the fire ``(job_id, scheduled_time)``: a uuid5 of its fire key.

    Use it to find the Celery task (``app.AsyncResult(id)``) or RQ job of a given fire.
    """
    key = FireKey(job_id, scheduled_time.astimezone(timezone.utc)).key
    return str(uuid.uuid5(_NAMESPACE, key))


class SentId(str):
    """A task or job id, returned by the senders. The run record keeps ``repr()`` of what a
    job returns (``'done'`` with quotes); this repr is the bare id, so the record's ``result``
    is the id itself, ready to paste into ``AsyncResult(...)`` or ``rq job``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


def run_context(what: str) -> RunContext:
    """The current run; a sender called outside a run (a plain function call) gets a fire at
    now, with an event nobody sets."""
    ctx = current_job()
    if ctx is not None:
        return ctx
    return RunContext(
        job_id=what, scheduled_time=datetime.now(timezone.utc), attempt=1,
        cancel_event=threading.Event(),
    )


# -- what a scheduler allowed the senders to name --------------------------------------------


class Grants:
    """What the hand-off of one scheduler may name: the names its code gave (per kind:
    ``"celery app"``, ``"celery task"``, ``"rq function"``, ``"rq connection"``) and the
    scheduler's ``allowed_modules``. Decided from the text alone: nothing is imported here."""

    def __init__(self, modules: tuple[str, ...]) -> None:
        self.modules = modules
        self._lock = threading.Lock()
        # Invariant: kind -> names this process's code allowed; written under _lock
        self._names: dict[str, set[str]] = {}

    def allow(self, kind: str, name: str) -> None:
        with self._lock:
            self._names.setdefault(kind, set()).add(name)

    def named(self, kind: str, name: object) -> bool:
        with self._lock:
            return isinstance(name, str) and name in self._names.get(kind, ())

    def module_allowed(self, module: str) -> bool:
        """``module`` is one of ``allowed_modules`` or inside one (whole dotted components)."""
        return dotted(module) and under_modules(module, self.modules)

    def refuse(self, kind: str, name: object, how: str, *, by_module: bool = True) -> InvalidJob:
        """The error for ``name``, not allowed: what allows it, and how to allow it."""
        modules = (
            f", and its module is not under allowed_modules {list(self.modules)}"
            if by_module
            else ""
        )
        return InvalidJob(
            f"{kind} {name!r} is not allowed for the hand-off in this process: no "
            f"add_celery_task, add_rq_job, celery-beat, allow_celery or allow_rq here named "
            f"it{modules}. In every process that runs this scheduler, {how}"
        )


_grants: weakref.WeakKeyDictionary[Scheduler, Grants] = weakref.WeakKeyDictionary()
_grants_lock = threading.Lock()


def grants_for(
    sched: Scheduler, sender: Callable[..., Any], check: Callable[[Grants, dict[str, Any]], None]
) -> Grants:
    """The grants of ``sched``, made on first use; allows ``sender`` in its jobs added at run
    time, with ``check(grants, kwargs)`` run on a stored job's arguments before it is loaded."""
    with _grants_lock:
        grants = _grants.get(sched)
        if grants is None:
            grants = _grants[sched] = Grants(sched.allowed_modules)

    def check_args(args: list[Any], kwargs: dict[str, Any]) -> None:
        if args:
            raise InvalidJob(
                f"the hand-off sender takes keyword arguments only, the stored job has "
                f"args={args!r}"
            )
        check(grants, kwargs)

    sched.task(sender, check_args=check_args)
    return grants


def grants_of_run(ctx: RunContext) -> Grants | None:
    """What the scheduler running ``ctx`` allowed; None outside a scheduler's run (a sender
    called by code with arguments of its own)."""
    sched = ctx.scheduler
    if sched is None:
        return None
    with _grants_lock:
        grants = _grants.get(sched)
    # A scheduler that never set up the hand-off (sched.task(send_task) by hand) allowed
    # nothing by name: only what is under its allowed_modules.
    return grants if grants is not None else Grants(sched.allowed_modules)
