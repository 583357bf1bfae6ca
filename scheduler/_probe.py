"""Health: is this scheduler (or the cluster sharing a store) doing its job?

Two views, one :class:`Health` type:

* :func:`process_health` (``Scheduler.health()``): this process's scheduler, from its
  pieces' state: no store I/O while it runs (a probe must stay cheap and must not hang on a
  slow store; the pieces learn of an outage within a heartbeat).
* :func:`cluster_health` (``scheduler health --store URL``, and the Flask and Django routes
  of a web process whose scheduler does not run): what the store says about every instance
  sharing it: live instances, queued run requests, jobs whose stored last fire says a fire
  is overdue.

:func:`health_of` picks the view for a scheduler object. The bounds are named here:
:data:`MAX_TICKER_LAG`, :data:`OVERDUE_FLOOR` and :data:`DEFAULT_OVERDUE_GRACE`.

Threads and state: pure functions over the pieces' thread-safe reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .exceptions import SchedulerError

if TYPE_CHECKING:
    from ._pieces import Pieces
    from .job import Job
    from .scheduler import Scheduler
    from .stores import InstanceInfo, Store, StoredJob

__all__ = [
    "DEFAULT_OVERDUE_GRACE",
    "MAX_TICKER_LAG",
    "OVERDUE_FLOOR",
    "Health",
    "cluster_health",
    "health_of",
    "process_health",
    "running_and_store",
]

#: the ticker waking later than this (seconds) makes a scheduler unhealthy: it wakes at
#: least every ``tick`` (1 s), so this means a stuck thread, a frozen process or starvation
MAX_TICKER_LAG = 10.0
#: a fire is overdue once it is this many seconds late at least (whatever the job's grace)
OVERDUE_FLOOR = 5.0
#: the grace of a job whose ``misfire_grace_time`` is None (run however late)
DEFAULT_OVERDUE_GRACE = 600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """What :meth:`Scheduler.health` reports; ``ok`` is False with ``reasons`` when:

    * the scheduler is not running (``process`` view), or no instance is alive
      (``cluster`` view);
    * the store cannot be reached;
    * the ticker is more than :data:`MAX_TICKER_LAG` seconds late;
    * some job's fire is overdue past its ``misfire_grace_time`` (``overdue``).
    """

    ok: bool
    reasons: list[str] = field(default_factory=list)  #: empty when ok
    ticker_lag: float | None = None  #: seconds; None when the ticker does not run here
    store_reachable: bool = True
    jobs_running: int = 0  #: jobs with a run under way (in every instance, cluster view)
    overdue: list[str] = field(default_factory=list)  #: ids of jobs past their grace
    #: store time of the ticker's last pass (cluster view: the latest instance heartbeat)
    last_tick: datetime | None = None
    queued_requests: int = 0  #: run requests waiting for an instance to claim them
    #: the live instances (cluster view only; None in the process view)
    instances: list[InstanceInfo] | None = None
    view: str = "process"  #: ``"process"`` or ``"cluster"``

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601 text)."""
        data: dict[str, Any] = {
            "ok": self.ok,
            "reasons": list(self.reasons),
            "view": self.view,
            "ticker_lag": self.ticker_lag,
            "store_reachable": self.store_reachable,
            "jobs_running": self.jobs_running,
            "overdue": list(self.overdue),
            "last_tick": None if self.last_tick is None else self.last_tick.isoformat(),
            "queued_requests": self.queued_requests,
        }
        if self.instances is not None:
            data["instances"] = [info.to_dict() for info in self.instances]
        return data


def _queued(store: Store) -> int:
    # TODO(lead): call store.queued_requests() directly once ops-control's branch is merged
    count = getattr(store, "queued_requests", None)
    return int(count()) if callable(count) else 0


def _overdue_after(options: dict[str, Any]) -> timedelta:
    grace = options.get("misfire_grace_time", DEFAULT_OVERDUE_GRACE)
    grace = DEFAULT_OVERDUE_GRACE if grace is None else float(grace)
    jitter = float(options.get("jitter") or 0.0)
    return timedelta(seconds=max(OVERDUE_FLOOR, grace) + jitter)


def _overdue_jobs(jobs: Iterable[Job], now: datetime) -> list[str]:
    floor = now - timedelta(seconds=OVERDUE_FLOOR)
    late = []
    for job in jobs:
        # The ticker's next fire (UTC), read without Ticker._lock: one attribute, a snapshot.
        # None while paused, parked by an outage, or finished. Most jobs stop here, so that
        # health() stays cheap with many jobs.
        fire = job._next_fire
        if fire is None or fire >= floor or job.paused or job.broken is not None:
            continue
        options = {"misfire_grace_time": job.options.misfire_grace_time,
                   "jitter": job.options.jitter}  # fmt: skip
        if fire + _overdue_after(options) < now:
            late.append(job.id)
    return late


def process_health(pieces: Pieces, state: str, store: Store) -> Health:
    """This process's scheduler (``Scheduler.health()``)."""
    reasons: list[str] = []
    if state != "running":
        try:  # nothing of ours talks to it: ask it
            store.ping()
            reachable = True
        except Exception:
            reachable = False
        if not reachable:
            reasons.append("the store cannot be reached")
        return Health(
            ok=False,
            reasons=[f"the scheduler is not running (state: {state})", *reasons],
            store_reachable=reachable,
            queued_requests=_safe(_queued, store, 0) if reachable else 0,
        )
    reachable = not pieces.health.out
    if not reachable:
        reasons.append("the store cannot be reached")
    lag = pieces.ticker.lag()
    if lag is None:
        reasons.append("the ticker thread is not running")
    elif lag > MAX_TICKER_LAG:
        reasons.append(f"the ticker is {lag:.1f}s late (more than {MAX_TICKER_LAG:g}s)")
    if not pieces.heartbeat.alive:
        reasons.append("the heartbeat thread is not running")
    overdue = _overdue_jobs(pieces.registry.jobs(), pieces.now())
    if overdue:
        reasons.append(f"{len(overdue)} job(s) overdue past their grace: {', '.join(overdue)}")
    return Health(
        ok=not reasons,
        reasons=reasons,
        ticker_lag=lag,
        store_reachable=reachable,
        jobs_running=len(pieces.runner.still_running()),
        overdue=overdue,
        last_tick=pieces.ticker.last_tick,
        queued_requests=_safe(_queued, store, 0) if reachable else 0,
    )


def _safe(fn: Any, store: Store, default: Any) -> Any:
    try:
        return fn(store)
    except Exception:
        return default


def _stored_overdue(item: StoredJob, now: datetime) -> bool:
    """The stored job's next fire after its last claimed one is past its grace."""
    from .triggers import from_dict

    definition = item.definition
    if item.broken is not None or getattr(item, "paused", False):
        return False
    try:
        trigger = from_dict(definition.trigger).anchored(item.anchor)
        fire = trigger.next_after(item.last_fire if item.last_fire is not None else item.anchor)
    except Exception:  # a definition this version cannot read: not ours to judge
        return False
    return fire is not None and fire + _overdue_after(definition.options) < now


def cluster_health(store: Store, *, host: str | None = None) -> Health:
    """What ``store`` says about every instance sharing it.

    :param host: count only the instances on this host (a probe inside a container asks
        whether *its* scheduler is alive)
    """
    try:
        now = store.now()
        instances = store.list_instances()
        stored = store.load_jobs(dynamic_only=False)
        queued = _queued(store)
    except SchedulerError as exc:
        return Health(
            ok=False,
            reasons=[f"the store cannot be reached: {exc}"],
            store_reachable=False,
            instances=[],
            view="cluster",
        )
    reasons = []
    if host is not None:
        instances = [info for info in instances if info.host == host]
    if not instances:
        where = "" if host is None else f" on host {host}"
        waiting = f" ({queued} requested run(s) wait in the queue)" if queued else ""
        reasons.append(f"no live scheduler instance{where}{waiting}")
    overdue = sorted(item.definition.id for item in stored if _stored_overdue(item, now))
    if overdue:
        reasons.append(f"{len(overdue)} job(s) overdue past their grace: {', '.join(overdue)}")
    return Health(
        ok=not reasons,
        reasons=reasons,
        store_reachable=True,
        jobs_running=sum(len(info.running) for info in instances),
        overdue=overdue,
        last_tick=max((info.last_heartbeat for info in instances), default=None),
        queued_requests=queued,
        instances=instances,
        view="cluster",
    )


def running_and_store(sched: Scheduler) -> tuple[int, bool]:
    """``(jobs running, store reachable)`` without judging every job (the metrics' gauges,
    read at each scrape): no store call while the scheduler runs, a ping when it does not."""
    from .scheduler import pieces_of

    pieces = pieces_of(sched)
    if sched.running:
        return len(pieces.runner.still_running()), not pieces.health.out
    try:
        sched.store.ping()
    except Exception:
        return 0, False
    return 0, True


def health_of(sched: Scheduler) -> Health:
    """The health a probe of ``sched``'s process should report: its own when it runs here
    (or its store is private to this process), else the cluster's (a web worker with
    autostart off: the jobs run in another process sharing the store)."""
    if sched.running or not sched.store.shared:
        return sched.health()
    return cluster_health(sched.store)
