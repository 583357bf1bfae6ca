"""Where the dashboard's facts come from: a :class:`~scheduler.Scheduler` (started or not)
or a bare :class:`~scheduler.stores.Store` (``scheduler dashboard --store URL``, no app).

Both give the renderer the same plain values (:class:`JobView`, ``RunRecord``,
``InstanceInfo``, :class:`StatusView`) and take the same three actions. A feature the
installed store or scheduler does not offer yet (instances, health, shared pause, run
requests) reads as "not available" instead of failing the page.

Threads and state: a source keeps only the scheduler or store it was given; every call
reads afresh (a page shows the store as it is now). The WSGI server may call from several
threads at once; schedulers and stores are thread-safe.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from .._tz import UTC
from ..exceptions import JobNotFound, SchedulerError

if TYPE_CHECKING:
    from .._probe import Health
    from ..scheduler import Scheduler
    from ..stores import InstanceInfo, RunRecord, Store, StoredJob
    from ..triggers import Trigger

__all__ = [
    "ActionUnavailable",
    "DataSource",
    "JobView",
    "SchedulerSource",
    "StatusView",
    "StoreSource",
]

logger = logging.getLogger("scheduler.dashboard")


class ActionUnavailable(SchedulerError):
    """The scheduler or store behind the dashboard cannot take this action (an older store
    backend without shared pause or run requests)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobView:
    """What the pages show of one job. Times are aware, in the job's zone."""

    id: str
    name: str
    func_ref: str | None
    trigger: Trigger | None  #: None when the stored definition cannot be read
    timezone: tzinfo
    next_fire: datetime | None
    paused: bool = False
    running: bool = False  #: a run of it is claimed or running now
    dynamic: bool = False
    broken: str | None = None
    tags: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    last_run: RunRecord | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    """Is it running: the store, the instances and the scheduler's health."""

    store: str  #: the store, credentials masked (``postgresql://app:***@db/app``)
    reachable: bool
    error: str | None = None  #: why the store could not be read
    #: live instances (``InstanceInfo``); None when they could not be read
    instances: list[InstanceInfo] | None = None
    #: :class:`~scheduler.Health`: this process's when its scheduler runs here, else the
    #: cluster's as the store tells it
    health: Health | None = None
    can_pause: bool = False
    can_request: bool = False


class DataSource(Protocol):
    """What the renderer and the request handler read and do; see the two sources below."""

    def now(self) -> datetime: ...
    def status(self) -> StatusView: ...
    def jobs(self) -> list[JobView]: ...
    def job(self, job_id: str) -> JobView: ...
    def runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]: ...
    def zones(self) -> dict[str, tzinfo]: ...
    def pause(self, job_id: str, *, requested_by: str | None) -> None: ...
    def resume(self, job_id: str, *, requested_by: str | None) -> None: ...
    def request_run(self, job_id: str, *, requested_by: str | None) -> str: ...


def _claimed(run: RunRecord | None) -> bool:
    """A run that an instance claimed and has not finished (not a queued request)."""
    return run is not None and run.outcome is None and run.claimed_at is not None


def _running_ids(instances: list[InstanceInfo] | None) -> set[str]:
    return {jid for inst in instances or () for jid in inst.running}


def _list_instances(store: Store) -> list[Any]:
    try:
        return list(store.list_instances())
    except SchedulerError:  # the page still shows the jobs; status() says why
        return []


def store_label(store: Store) -> str:
    """The store for people: its repr (which the backends keep free of passwords), masked
    again to be safe; the class name when the repr says nothing."""
    from ..stores._url import mask_url

    text = repr(store)
    return type(store).__name__ if text.startswith("<") else mask_url(text)


def _method(obj: object, name: str) -> Callable[..., Any] | None:
    """``obj.name`` when ``obj`` offers it (a store or scheduler older than the operations
    contract does not), else None."""
    method = getattr(obj, name, None)
    return method if callable(method) else None


def _call(obj: object, name: str, *args: Any, **kwargs: Any) -> Any:
    method = _method(obj, name)
    if method is None:
        raise ActionUnavailable(f"{type(obj).__name__} does not offer {name}() yet")
    try:
        return method(*args, **kwargs)
    except NotImplementedError as exc:
        raise ActionUnavailable(f"{type(obj).__name__} does not offer {name}(): {exc}") from None


#: the newest runs of every job read at once for the overview, per job listed (at least
#: RECENT_MIN): most jobs' last run is among them; the others are read one by one
RECENT_PER_JOB, RECENT_MIN = 3, 200


def last_runs(get_runs: Callable[[str | None, int], list[RunRecord]],
              job_ids: list[str]) -> dict[str, RunRecord | None]:
    """The last run of each job: one read of the newest runs of every job, then one read
    per job that had none among them (so a page of 1,000 jobs is not 1,000 queries)."""
    found: dict[str, RunRecord | None] = {}
    try:
        if len(job_ids) > 1:
            for run in get_runs(None, max(RECENT_MIN, RECENT_PER_JOB * len(job_ids))):
                found.setdefault(run.job_id, run)
        for job_id in job_ids:
            if job_id not in found:
                runs = get_runs(job_id, 1)
                found[job_id] = runs[0] if runs else None
    except SchedulerError:  # the page still lists the jobs; status() says why
        pass
    return found


@functools.lru_cache(maxsize=4096)
def _trigger(text: str) -> Trigger:
    """A stored trigger definition parsed once (triggers are immutable)."""
    from ..triggers import from_dict

    return from_dict(json.loads(text))


class SchedulerSource:
    """Facts from a :class:`~scheduler.Scheduler` in this process (Flask, Django); it need
    not be started: a web process may show the jobs that a ``scheduler run`` process runs.

    :param now: the clock (tests pass a fixed one)
    """

    def __init__(self, scheduler: Scheduler, *, now: Callable[[], datetime] | None = None):
        self.scheduler = scheduler
        self._now = now

    def now(self) -> datetime:
        return self._now() if self._now is not None else datetime.now(timezone.utc)

    def status(self) -> StatusView:
        from .._probe import health_of

        sched, store = self.scheduler, self.scheduler.store
        shown = store_label(store)
        # Its own health when it runs here, else the cluster's (a web process with
        # autostart off shows the instances that run the jobs).
        health = health_of(sched)
        if not health.store_reachable:
            return StatusView(store=shown, reachable=False, error="; ".join(health.reasons),
                              health=health)
        instances = health.instances
        if instances is None:
            try:
                instances = store.list_instances()
            except SchedulerError as exc:
                return StatusView(store=shown, reachable=False, error=str(exc), health=health)
        return StatusView(
            store=shown, reachable=True, instances=instances, health=health,
            can_pause=True, can_request=_method(sched, "request_run") is not None,
        )

    def _view(self, job: Any, running: set[str], last: RunRecord | None) -> JobView:
        return JobView(
            id=job.id, name=job.name, func_ref=job.func_ref, trigger=job.trigger,
            timezone=job.timezone, next_fire=job.next_run_time, paused=bool(job.paused),
            running=job.id in running or _claimed(last),
            dynamic=bool(job.dynamic), broken=job.broken, tags=tuple(sorted(job.tags)),
            options=job.options.to_dict(), args=tuple(job.args), kwargs=dict(job.kwargs),
            last_run=last,
        )

    def jobs(self) -> list[JobView]:
        running = _running_ids(_list_instances(self.scheduler.store))
        jobs = self.scheduler.get_jobs()
        last = last_runs(self.scheduler.get_runs, [job.id for job in jobs])
        return [self._view(job, running, last.get(job.id)) for job in jobs]

    def job(self, job_id: str) -> JobView:
        job = self.scheduler.get_job(job_id)  # JobNotFound
        running = _running_ids(_list_instances(self.scheduler.store))
        return self._view(job, running, last_runs(self.scheduler.get_runs, [job_id]).get(job_id))

    def runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self.scheduler.get_runs(job_id, limit)

    def zones(self) -> dict[str, tzinfo]:
        """Each job's zone (for the runs of every job), without reading any run."""
        return {job.id: job.timezone for job in self.scheduler.get_jobs()}

    def pause(self, job_id: str, *, requested_by: str | None) -> None:
        self.scheduler.pause_job(job_id)
        logger.info("job %s paused from the dashboard by %s", job_id, requested_by,
                    extra={"job_id": job_id, "requested_by": requested_by})

    def resume(self, job_id: str, *, requested_by: str | None) -> None:
        self.scheduler.resume_job(job_id)
        logger.info("job %s resumed from the dashboard by %s", job_id, requested_by,
                    extra={"job_id": job_id, "requested_by": requested_by})

    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        return str(_call(self.scheduler, "request_run", job_id, requested_by=requested_by))


class StoreSource:
    """Facts from a bare store: the jobs every instance registered, their runs, the live
    instances. There is no scheduler here, so a job's zone is its trigger's (else
    ``default_timezone``) and the next fire is computed from the stored definition, after
    the last claimed fire; tags are not stored, so none are shown.

    :param store: an opened store
    :param default_timezone: the zone of jobs whose trigger has none (the app's default
        zone is not stored)
    """

    def __init__(
        self,
        store: Store,
        *,
        default_timezone: tzinfo = UTC,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.default_timezone = default_timezone
        self._now = now

    def now(self) -> datetime:
        return self._now() if self._now is not None else datetime.now(timezone.utc)

    def status(self) -> StatusView:
        from .._probe import cluster_health

        health = cluster_health(self.store)
        return StatusView(
            store=store_label(self.store), reachable=health.store_reachable,
            error=None if health.store_reachable else "; ".join(health.reasons),
            instances=health.instances, health=health,
            can_pause=_method(self.store, "set_paused") is not None,
            can_request=_method(self.store, "request_run") is not None,
        )

    def _view(self, item: StoredJob, running: set[str], last: RunRecord | None) -> JobView:
        d = item.definition
        paused = bool(getattr(item, "paused", False))
        broken = item.broken
        trigger: Trigger | None
        try:
            text = json.dumps(d.trigger, sort_keys=True)
            trigger = _trigger(text).with_default_timezone(self.default_timezone)
        except (SchedulerError, ValueError, TypeError, KeyError) as exc:
            trigger, broken = None, broken or f"unreadable definition: {exc}"
        zone = (trigger.timezone if trigger is not None else None) or self.default_timezone
        nxt = None
        if trigger is not None and not paused and broken is None:
            now = self.now()
            after = max(now, item.last_fire) if item.last_fire is not None else now
            nxt = trigger.anchored(item.anchor).next_after(after)
        return JobView(
            id=d.id, name=d.name, func_ref=d.func_ref, trigger=trigger, timezone=zone,
            next_fire=nxt.astimezone(zone) if nxt is not None else None, paused=paused,
            running=d.id in running or _claimed(last),
            dynamic=d.dynamic, broken=broken, options=dict(d.options), args=tuple(d.args),
            kwargs=dict(d.kwargs), last_run=last,
        )

    def jobs(self) -> list[JobView]:
        running = _running_ids(_list_instances(self.store))
        items = sorted(self.store.load_jobs(dynamic_only=False), key=lambda i: i.definition.id)
        last = last_runs(self.store.get_runs, [item.definition.id for item in items])
        return [self._view(item, running, last.get(item.definition.id)) for item in items]

    def job(self, job_id: str) -> JobView:
        item = self.store.get_job(job_id)
        if item is None:
            raise JobNotFound(job_id)
        last = last_runs(self.store.get_runs, [job_id]).get(job_id)
        return self._view(item, _running_ids(_list_instances(self.store)), last)

    def runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self.store.get_runs(job_id, limit)

    def zones(self) -> dict[str, tzinfo]:
        """Each job's zone (for the runs of every job), without reading any run."""
        return {item.definition.id: self._zone(item) for item in
                self.store.load_jobs(dynamic_only=False)}

    def _zone(self, item: StoredJob) -> tzinfo:
        from .._tz import zone

        name = item.definition.trigger.get("timezone")
        try:
            return zone(name) if isinstance(name, str) else self.default_timezone
        except SchedulerError:
            return self.default_timezone

    def _set_paused(self, job_id: str, paused: bool, requested_by: str | None) -> None:
        _call(self.store, "set_paused", job_id, paused)
        logger.info("job %s %s from the dashboard by %s", job_id,
                    "paused" if paused else "resumed", requested_by,
                    extra={"job_id": job_id, "requested_by": requested_by})

    def pause(self, job_id: str, *, requested_by: str | None) -> None:
        self._set_paused(job_id, True, requested_by)

    def resume(self, job_id: str, *, requested_by: str | None) -> None:
        self._set_paused(job_id, False, requested_by)

    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        if self.store.get_job(job_id) is None:
            raise JobNotFound(job_id)
        return str(_call(self.store, "request_run", job_id, requested_by=requested_by))
