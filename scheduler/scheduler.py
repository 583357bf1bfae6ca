"""The :class:`Scheduler` facade: jobs in, fires out, one clean shutdown.

Quick start::

    from scheduler import Scheduler

    sched = Scheduler(timezone="Europe/Bratislava")

    @sched.job("0 3 * * *")            # every day at 03:00 Bratislava time
    def nightly_report() -> None: ...

    sched.every(10).minutes.do(refresh_cache)
    sched.run_forever()                # Ctrl-C or SIGTERM: graceful shutdown

Everything you pass is checked when you pass it; nothing is raised later from a background
thread. See ``DESIGN.md`` for the path a fire takes: ticker -> runner -> store.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from datetime import datetime, timedelta, tzinfo
from typing import Any, TypeVar, overload

from ._clock import Clock, SystemClock
from ._dispatch import Dispatcher
from ._heartbeat import Heartbeat
from ._log import format_duration, safe_log
from ._pool import DaemonPool
from ._procpool import ProcessPool
from ._refs import HOW_TO_ALLOW, Allowlist, ArgsCheck, stable_ref
from ._runner import Runner
from ._ticker import Ticker
from ._tz import tz_name, zone
from .exceptions import (
    ConfigurationError,
    DuplicateJobId,
    InvalidJob,
    InvalidTrigger,
    JobNotFound,
    SchedulerAlreadyRunning,
    StoreUnavailable,
    unknown_name_message,
)
from .job import Job, JobOptions
from .stores import Owner, RunOutcome, RunRecord, Store, StoredJob, from_url
from .triggers import Trigger, coerce
from .triggers import from_dict as trigger_from_dict
from .triggers.once import Once

__all__ = ["Scheduler"]

log = logging.getLogger("scheduler")
F = TypeVar("F", bound=Callable[..., Any])
_T = TypeVar("_T")

_instances: weakref.WeakSet[Scheduler] = weakref.WeakSet()
_STATES = ("stopped", "running", "stopping", "shut down")


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
    return float(value)


class Scheduler:
    """Runs jobs on a thread pool at the times their triggers say.

    :param timezone: the zone for triggers that do not name one (name, ZoneInfo, pytz, tzinfo)
    :param max_workers: threads running jobs at once
    :param shutdown_timeout: seconds :meth:`shutdown` waits for running jobs by default
    :param tick: the ticker wakes at least this often (to notice wall-clock changes); due
        fires are dispatched when due, not on tick boundaries
    :param store: ``None``/``"memory"``, ``"sqlite:///path.db"``, ``"postgresql://..."``,
        ``"redis://..."`` or a :class:`~scheduler.stores.Store`
    :param lease_seconds: a claimed fire's lease; renewed every third of it while it runs,
        and declared lost by a peer once it has expired
    :param run_context: ``callable(job)`` returning a context manager entered around every
        job call on its pool thread (integrations use it for an app context or DB handling)
    :param clock: the time source (:class:`scheduler.testing.VirtualClock` in tests)
    :param max_processes: worker processes running ``executor="process"`` jobs at once
        (default: the CPU count); none starts before such a job runs
    :param max_runs_per_process: a worker process is replaced after this many runs (to
        bound leaks); None keeps it
    :param allowed_modules: dotted module names whose functions jobs added at run time to a
        durable store may name (``["myapp.jobs"]`` also allows ``myapp.jobs.nightly``, not
        ``myapp.jobsevil``); functions registered with :meth:`task` are allowed too. A stored
        job naming anything else is never imported: it is marked broken. See
        docs/security.md
    :raises ConfigurationError: any bad argument, at once
    """

    def __init__(
        self,
        *,
        timezone: str | tzinfo = "UTC",
        max_workers: int = 10,
        shutdown_timeout: float = 30.0,
        tick: float = 1.0,
        store: str | Store | None = None,
        lease_seconds: float = 30.0,
        run_context: Callable[[Job], contextlib.AbstractContextManager[Any]] | None = None,
        clock: Clock | None = None,
        max_processes: int | None = None,
        max_runs_per_process: int | None = None,
        allowed_modules: Iterable[str] = (),
        **unknown: Any,
    ) -> None:
        if unknown:
            import inspect

            valid = [p for p in inspect.signature(Scheduler).parameters if p != "unknown"]
            raise ConfigurationError(
                unknown_name_message("Scheduler option", next(iter(unknown)), valid)
            )
        self.timezone = zone(timezone)
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigurationError(f"max_workers must be an int >= 1, got {max_workers!r}")
        self.max_workers = max_workers
        if max_processes is None:
            max_processes = os.cpu_count() or 1
        for name, value in (("max_processes", max_processes),
                            ("max_runs_per_process", max_runs_per_process)):  # fmt: skip
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
        self.max_processes = max_processes
        self.max_runs_per_process = max_runs_per_process
        self._procpool: ProcessPool | None = None  # made by the first process job's run
        self.shutdown_timeout = _positive("shutdown_timeout", shutdown_timeout)
        self.tick = _positive("tick", tick)
        self.lease_seconds = _positive("lease_seconds", lease_seconds)
        if run_context is not None and not callable(run_context):
            raise ConfigurationError(f"run_context must be callable, got {run_context!r}")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._allowed = Allowlist(allowed_modules)
        self.store: Store = store if isinstance(store, Store) else from_url(store)
        self.store.bind_clock(self.clock)
        self.owner = Owner.current()
        self._run_context = run_context
        self._store_has_clock = type(self.store).now is not Store.now
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self._state = "stopped"
        self._accepting = False
        self._events = Dispatcher()
        self._ticker = Ticker(self, self.tick)
        self._runner = Runner(self)
        self._heartbeat = Heartbeat(self)
        self._pool = DaemonPool(max_workers)
        self._skew = 0.0
        self._outage_since: datetime | None = None
        self._outages: list[tuple[datetime, datetime]] = []
        self._awaiting_store: dict[str, tuple[Job, datetime]] = {}
        #: the store's data_losses when this instance last registered its jobs
        self._losses_seen = self.store.data_losses
        self._shutdown_result: bool | None = None
        self._stop_requested = threading.Event()
        #: a read before start() (get_jobs, next_run_time) opened the store (True), or found
        #: it unreachable (False: previews do not wait for it again), or none tried (None)
        self._store_opened: bool | None = None
        self._sync_error: str | None = None  # why the last dynamic sync could not read the store
        _instances.add(self)

    # -- state -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def state(self) -> str:
        """``'stopped'`` (not started yet), ``'running'``, ``'stopping'`` or ``'shut down'``."""
        return self._state

    def _now(self) -> datetime:
        """Now by the store's clock where it has one (the local clock corrected by skew)."""
        now = self.clock.now()
        return now - timedelta(seconds=self._skew) if self._skew else now

    # -- jobs ------------------------------------------------------------------------------
    def add_job(
        self,
        func: Callable[..., Any],
        trigger: Trigger | str | timedelta,
        *,
        id: str | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        replace_existing: bool = False,
        tags: Iterable[str] = (),
        **options: Any,
    ) -> Job:
        """Schedule ``func`` to run whenever ``trigger`` fires.

        :param trigger: a :class:`~scheduler.triggers.Trigger`, a cron string
            (``"*/5 * * * *"``) or a positive ``timedelta``
        :param id: unique id; defaults to the function's import path ``module:qualname``
        :param options: ``max_instances``, ``misfire_grace_time``, ``coalesce``, ``jitter``,
            ``retries``, ``timeout`` (see :class:`~scheduler.job.JobOptions`)
        :raises InvalidTrigger: bad trigger, or a ``Once`` in the past
        :raises InvalidJob: not callable, bad id, unknown option, bad option value; with a
            durable store, non-JSON arguments, or (added while running) a function that
            cannot be imported by name or that this process did not allow (:meth:`task`,
            ``allowed_modules``)
        :raises DuplicateJobId: the id is taken and ``replace_existing`` is False
        """
        trig = coerce(trigger).with_default_timezone(self.timezone)
        try:
            opts = JobOptions.build(options) if options else _DEFAULT_OPTIONS
        except InvalidJob as exc:  # name the job, as every other refusal does
            if exc.job_id is not None or not callable(func):
                raise
            raise InvalidJob(str(exc), job_id=id if id is not None else stable_ref(func)) from None
        if isinstance(trig, Once) and trig.when <= self._now():
            raise InvalidTrigger(
                f"Once({trig.when.isoformat()}) is in the past (now is "
                f"{self._now().isoformat()}); a one-off job needs a future time"
            )
        running = self._state == "running"
        job = Job(
            self,
            func,
            trig,
            id=id,
            name=name,
            # a str is iterable, but args=("x") (a missing comma) must fail, not run f("x")
            args=args
            if isinstance(args, (tuple, list, str, bytes)) or not isinstance(args, Iterable)
            else tuple(args),
            kwargs=kwargs,
            options=opts,
            tags=tags,
            dynamic=running and self.store.durable,
            durable=self.store.durable,
        )
        if job.dynamic and not self._allowed.allows_func(job.func, job.func_ref or ""):
            # Every instance loads a dynamic job from the store, and each runs only what it
            # allowed: refused here, it would be marked broken everywhere else.
            raise InvalidJob(
                f"{job.func_ref!r} cannot be added while the scheduler runs: a job added at "
                f"run time is stored and loaded by every instance, which only run functions "
                f"they allowed; {HOW_TO_ALLOW}",
                job_id=job.id,
            )
        if job.dynamic:  # the check every instance makes before loading it (_sync_dynamic)
            try:
                self._allowed.check_args(job.func_ref or "", list(job.args), job.kwargs)
            except InvalidJob as exc:
                raise InvalidJob(str(exc), job_id=job.id) from None
        with self._lock:
            old = self._jobs.get(job.id)
            if old is not None and not replace_existing:
                raise DuplicateJobId(job.id)
            old_next = old._next_fire if old is not None else None
            if old is not None:
                self._ticker.drop(old)
            # In the registry before _activate: placing its first fire checks that the job
            # is the current one for its id.
            self._jobs[job.id] = job
            if running:
                try:
                    self._activate(job)
                except BaseException:  # StoreUnavailable: then nothing was added
                    if old is not None:
                        self._jobs[job.id] = old
                        if old_next is not None and self._is_current(old):
                            self._ticker.push(old, old_next)
                    else:
                        del self._jobs[job.id]
                    raise
        if self._events:
            self._events.emit("JobAdded", timestamp=self._now(), job_id=job.id)
        return job

    def job(self, trigger: Trigger | str | timedelta, **options: Any) -> Callable[[F], F]:
        """Decorator form of :meth:`add_job`; returns the function unchanged."""

        def register(func: F) -> F:
            self.add_job(func, trigger, **options)
            return func

        return register

    @overload
    def task(self, func: F, *, check_args: ArgsCheck | None = None) -> F: ...

    @overload
    def task(
        self, func: None = None, *, check_args: ArgsCheck | None = None
    ) -> Callable[[F], F]: ...

    def task(
        self, func: F | None = None, *, check_args: ArgsCheck | None = None
    ) -> F | Callable[[F], F]:
        """Allow ``func`` in jobs added at run time; a decorator that returns it unchanged.

        A job added after :meth:`start` to a durable store is stored and loaded by every
        instance, and each instance runs only the functions it allowed: those registered
        here (so import the module with the ``@sched.task`` functions in every process) and
        those under ``allowed_modules``. Schedules nothing by itself::

            @sched.task
            def send_reminder(user_id: int) -> None: ...

            sched.add_job(send_reminder, Once(when), args=[42])   # at run time

        :param check_args: ``callable(args, kwargs)`` that raises :class:`InvalidJob` when
            the arguments of a job naming ``func`` are not acceptable here; called by
            :meth:`add_job` for jobs added at run time, and before this instance loads such
            a job from the store (a refused one is marked broken with the message). For a
            function whose arguments name further code or hosts (the Celery and RQ senders)
        :raises InvalidJob: a lambda, nested function, partial or a function in ``__main__``
            (other processes could not import it by name)
        """
        if func is None:
            return lambda f: self.task(f, check_args=check_args)
        self._allowed.add(func, check_args)
        return func

    @property
    def allowed_modules(self) -> tuple[str, ...]:
        """The ``allowed_modules`` this scheduler was built with (see :meth:`task`)."""
        return self._allowed.modules

    def every(self, interval: float = 1) -> Any:
        """The ``schedule`` library's vocabulary: ``sched.every(10).minutes.do(func)``."""
        from .fluent import Every

        return Every(self, interval)

    def adopt(self, schedule_scheduler: Any) -> list[Job]:
        """Take over the jobs of a ``schedule.Scheduler`` (see :func:`scheduler.fluent.adopt`)."""
        from .fluent import adopt

        return adopt(self, schedule_scheduler)

    def add_celery_task(self, name: str, trigger: Trigger | str | timedelta, **options: Any) -> Job:
        """Send the Celery task ``name`` at each fire, each fire once across every process
        sharing the store (extra ``[celery]``; see :func:`scheduler.contrib.celery.add_celery_task`
        for ``args``, ``kwargs``, ``options``, ``app`` and ``follow_results``)."""
        from .contrib.celery import add_celery_task

        return add_celery_task(self, name, trigger, **options)

    def add_rq_job(self, func: Any, trigger: Trigger | str | timedelta, **options: Any) -> Job:
        """Enqueue ``func`` (``'pkg.mod:func'``) on an RQ queue at each fire, each fire once
        (extra ``[rq]``; see :func:`scheduler.contrib.rq.add_rq_job` for ``queue``, ``args``,
        ``kwargs``, ``connection`` and ``follow_results``)."""
        from .contrib.rq import add_rq_job

        return add_rq_job(self, func, trigger, **options)

    def get_jobs(self) -> list[Job]:
        """The jobs, in the order they were added. Before :meth:`start`, with a durable
        store, the jobs added at run time (by any instance) follow, read from their stored
        definitions: ``dynamic`` is True, ``func_ref`` names the function, which is *not*
        imported here (``start()`` loads them), and ``broken`` says why one cannot run."""
        with self._lock:
            jobs = list(self._jobs.values())
        if self._state == "stopped":
            known = {job.id for job in jobs}
            stored = self._read_store(lambda store: store.load_jobs(dynamic_only=True)) or []
            jobs += [self._stored_view(item) for item in stored if item.definition.id not in known]
        return jobs

    def get_job(self, job_id: str) -> Job:
        """The job with this id; before :meth:`start` also a dynamic one in the store (see
        :meth:`get_jobs`).

        :raises JobNotFound: no such id
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            return job
        if self._state == "stopped":
            item = self._read_store(lambda store: store.get_job(job_id))
            if item is not None and item.definition.dynamic:
                return self._stored_view(item)
        raise JobNotFound(job_id)

    def remove_job(self, job_id: str) -> None:
        """Stop scheduling the job here. A job added at run time to a durable store is
        removed from the store too, so every instance drops it; before :meth:`start` that
        works without loading it. A job of the process-local memory store loses its row too
        (its run history stays).

        :raises JobNotFound: no such id
        :raises StoreUnavailable: before start, the store holding the job cannot be reached
        """
        if self._state == "stopped" and job_id not in self._jobs and self.store.durable:
            self._remove_stored(job_id)
            return
        with self._lock:
            job = self.get_job(job_id)
            del self._jobs[job_id]
            self._ticker.drop(job)
            self._awaiting_store.pop(job_id, None)
        # A process-local store's row is this process's alone: it goes too (kept, it grew
        # with every job ever removed). A shared store keeps the rows of declared jobs.
        if job.dynamic or not self.store.shared:
            with contextlib.suppress(StoreUnavailable):
                self.store.unregister(job_id)
        if self._events:
            self._events.emit("JobRemoved", timestamp=self._now(), job_id=job_id)

    def pause_job(self, job_id: str) -> Job:
        """Stop firing the job in this process until :meth:`resume_job`; fires that fall
        meanwhile are not run here (other instances sharing the store are not paused)."""
        with self._lock:
            job = self.get_job(job_id)
            job.paused = True
            self._ticker.drop(job)
        return job

    def resume_job(self, job_id: str) -> Job:
        """Fire again from now on."""
        with self._lock:
            job = self.get_job(job_id)
            if job.paused:
                job.paused = False
                if self._state == "running":
                    self._schedule_first(job, after=self._now())
        return job

    def run_job(self, job_id: str) -> Future[Any]:
        """Run the job now on the pool, outside its schedule. The run is not claimed in the
        store (it runs here, once) and not in the run history; the Future gives its return
        value or exception.

        :raises JobNotFound: no such id
        :raises SchedulerNotRunning: before :meth:`start` or after shutdown
        """
        job = self.get_job(job_id)
        if self._state != "running":
            from .exceptions import SchedulerNotRunning

            raise SchedulerNotRunning("run_job needs a running scheduler; call start() first")

        return self._runner.submit_manual(job)

    def call_job(self, job_id: str) -> Any:
        """Run the job now on *this* thread, whether or not the scheduler is running (what
        ``flask scheduler run-job`` and ``manage.py scheduler_jobs run`` do: starting the
        scheduler would also run whatever else is due). ``run_context`` is entered and
        ``current_job()`` is set as on the pool. Not claimed, not in the run history.

        :returns: what the job returned
        :raises JobNotFound: no such id
        :raises BaseException: whatever the job raised
        """
        job = self.get_job(job_id)
        return self._runner.call_now(job, self._runner.manual_context(job))

    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The run history, newest first (every process's runs with a shared store)."""
        return self.store.get_runs(job_id, limit)

    def add_listener(
        self, callback: Callable[[Any], Any], events: Iterable[type[Any]] | None = None
    ) -> None:
        """Call ``callback(event)`` for each event of the given classes (all by default)."""
        self._events.add(callback, events)

    def remove_listener(self, callback: Callable[[Any], Any]) -> None:
        self._events.remove(callback)

    # -- internal: the store before start() -----------------------------------------------
    def _read_store(self, read: Callable[[Store], _T]) -> _T | None:
        """A read of a durable store before :meth:`start` (None for the memory store, or
        when the store cannot be reached: a preview must not fail). The store is opened
        as ``start()`` opens it (its schema created on first use)."""
        if not self.store.durable or self._store_opened is False:
            return None
        try:
            if self._store_opened is None:
                self.store.open()
                self._store_opened = True
            return read(self.store)
        except StoreUnavailable as exc:
            # Once: a listing of twenty jobs must not wait twenty connect timeouts.
            self._store_opened = False
            safe_log(
                log,
                logging.WARNING,
                "store unavailable before start (%s): listing without its dynamic jobs and "
                "last fires",
                exc,
                extra={"error": str(exc)},
            )
            return None

    def _stored_view(self, item: StoredJob) -> Job:
        """A stored dynamic job as a :class:`Job`, without importing its function."""
        job = Job.from_stored(self, item, default_timezone=self.timezone)
        if job.broken is None and item.last_fire is not None:
            job._preview = job._effective.next_after(item.last_fire)
        return job

    def _remove_stored(self, job_id: str) -> None:
        """remove_job before start: delete a dynamic job from the store, unloaded."""
        store = self.store
        if not self._store_opened:
            store.open()  # raises StoreUnavailable: the caller asked to change the store
            self._store_opened = True
        item = store.get_job(job_id)
        if item is None or not item.definition.dynamic:
            raise JobNotFound(job_id)
        store.unregister(job_id)
        if self._events:
            self._events.emit("JobRemoved", timestamp=self._now(), job_id=job_id)

    def _first_fire_preview(self, job: Job) -> datetime | None:
        """Before :meth:`start`: the fire start() would place first for ``job`` (the first
        fire after now, or after the stored last claimed fire), computed without starting."""
        now = self._now()
        stored = self._read_store(lambda store: store.get_job(job.id))
        # register() keeps the last claimed fire, and the anchor of an unchanged definition
        same = stored is not None and stored.fingerprint == job._fingerprint
        effective = job.trigger.anchored(stored.anchor if same and stored else now)
        last = stored.last_fire if stored is not None else None
        return effective.next_after(last if last is not None else now)

    # -- internal: placing jobs in time ----------------------------------------------------
    def _activate(self, job: Job) -> None:
        """Register the job in the store and put its first fire in the heap (catch-up from
        the stored last fire). Called with the lock held."""
        reg = self.store.register(job.get_definition(), owner=self.owner)
        if reg.replaced is not None and reg.replaced.registered_by != str(self.owner):
            old = reg.replaced.definition
            safe_log(
                log,
                logging.WARNING,
                "job %s is defined differently by another instance: stored %s trigger=%s "
                "args=%s (registered by %s at %s), here %s trigger=%s args=%s (%s); the last "
                "registered definition wins, so this one runs from now on",
                job.id,
                old.func_ref,
                old.trigger,
                old.args,
                reg.replaced.registered_by,
                reg.replaced.registered_at.isoformat(),
                job.func_ref,
                job.get_definition().trigger,
                job.get_definition().args,
                self.owner,
                extra={"job_id": job.id, "replaced_by": str(self.owner)},
            )
        self._adopt_anchor(job, reg.anchor)
        self._runner._warned_superseded.discard(job.id)
        if job.paused:
            return
        if reg.last_fire is not None:
            self._reschedule_after(job, reg.last_fire)
        else:
            self._schedule_first(job, after=self._now())

    def _adopt_anchor(self, job: Job, anchor: datetime) -> None:
        """Count the job's fires from the anchor the store keeps (every instance then fires
        on one grid). A fire already placed on another grid is re-placed when it comes
        due: the runner does not claim it."""
        job._anchor = anchor
        job._effective = job.trigger.anchored(anchor)

    def _register_again(self, job: Job, stored: StoredJob | None) -> bool:
        """A claim of ``job`` was refused and the store holds ``stored`` (None: no row). True
        when the job is registered again, so that its claim can be made once more: after
        the store lost its data (every job of this instance is registered again), or for a
        job the code declares whose row is gone. False when another definition won, or a
        job added at run time was removed by another instance."""
        if self._check_data_loss():
            return self._jobs.get(job.id) is job
        if stored is not None or job.dynamic:
            return False
        # The row is gone although this code declares the job: the store lost its data (a
        # wiped table, a failover) without saying so. Declared jobs belong to the code.
        reg = self.store.register(job.get_definition(), owner=self.owner)
        self._adopt_anchor(job, reg.anchor)
        safe_log(
            log,
            logging.WARNING,
            "job %s was missing from the store (data lost?); registered it again",
            job.id,
            extra={"job_id": job.id},
        )
        return True

    def _check_data_loss(self) -> bool:
        """When the store has seen its data set lost since the last look, register every job
        of this instance again, those added at run time included (any instance that still
        holds a definition brings it back), adopting the anchor the store then keeps. True
        when it did."""
        losses = self.store.data_losses
        if losses == self._losses_seen:
            return False
        with self._lock:
            if losses == self._losses_seen:
                return False
            jobs = list(self._jobs.values())
            registered: list[str] = []
            gone: list[tuple[str, str]] = []
            for job in jobs:
                try:
                    reg = self.store.register(job.get_definition(), owner=self.owner)
                except StoreUnavailable:
                    raise  # _losses_seen unchanged: all of it is done again once it answers
                except Exception as exc:  # a data error: this job cannot come back
                    gone.append((job.id, f"{type(exc).__name__}: {exc}"))
                    continue
                self._adopt_anchor(job, reg.anchor)
                self._runner._warned_superseded.discard(job.id)
                registered.append(job.id)
            self._losses_seen = losses
        safe_log(
            log,
            logging.WARNING,
            "the store lost its data; registered this instance's %d jobs again (%d added at "
            "run time); fires resume on the interval grid the store now keeps",
            len(registered),
            sum(1 for job in jobs if job.dynamic and job.id in registered),
            extra={"jobs": registered},
        )
        for job_id, error in gone:
            safe_log(
                log,
                logging.ERROR,
                "job %s was lost with the store's data and could not be registered again "
                "(%s): it is gone from the store and does not run",
                job_id,
                error,
                extra={"job_id": job_id, "error": error},
            )
        return True

    def _schedule_first(self, job: Job, *, after: datetime) -> None:
        fire = job._effective.next_after(_past_anchor(job, after))
        if fire is None:
            self._finished(job)
        else:
            self._ticker.push(job, fire.astimezone(_UTC))

    def _reschedule_after(self, job: Job, fire: datetime) -> None:
        """Put the job's fire after ``fire`` in the heap (or retire a job that is done)."""
        nxt = job._effective.next_after(fire)
        if nxt is None:
            self._finished(job)
        elif self._is_current(job):
            self._ticker.push(job, nxt.astimezone(_UTC))

    def _finished(self, job: Job) -> None:
        """The trigger will not fire again: the job leaves the registry (its last run, if
        one is under way, still finishes and is recorded)."""
        with self._lock:
            if self._jobs.get(job.id) is job:
                del self._jobs[job.id]
                self._ticker.drop(job)
        if self._events:
            self._events.emit("JobRemoved", timestamp=self._now(), job_id=job.id)

    def _after_run(self, job: Job) -> None:
        """A claimed run finished: a finished one-off job added at run time leaves the store."""
        if job.dynamic and job.id not in self._jobs:
            with contextlib.suppress(StoreUnavailable):
                self.store.unregister(job.id)

    def _is_current(self, job: Job) -> bool:
        return self._jobs.get(job.id) is job and not job.paused

    # -- internal: store outages -----------------------------------------------------------
    def _store_failed(self, job: Job | None, fire: datetime | None, exc: BaseException) -> None:
        """A store call failed: remember the fire to retry, and log the outage once."""
        with self._lock:
            first = self._outage_since is None
            now = self._now()
            if first:
                self._outage_since = now
            # A store that answers a probe and fails the next call again within a minute is
            # one outage, not many: its repeats are logged at DEBUG.
            flap = bool(self._outages) and (now - self._outages[-1][1]) < _FLAP_WINDOW
            if job is not None and fire is not None and self._is_current(job):
                self._ticker.drop(job)  # it comes back when the store does
                self._awaiting_store.setdefault(job.id, (job, fire))
        if first:
            safe_log(
                log,
                logging.DEBUG if flap else logging.ERROR,
                "store unavailable: %s; no fire runs until it answers again (probing with "
                "backoff; fires due meanwhile follow the misfire rules)",
                exc,
                extra={"store": type(self.store).__name__, "error": str(exc)},
            )
        self._heartbeat.wake_for_deadline()

    def _store_ok(self) -> None:
        with self._lock:
            since = self._outage_since
            if since is None:
                return
            self._outage_since = None
            now = self._now()
            self._outages = [*self._outages[-9:], (since, now)]
            waiting = list(self._awaiting_store.values())
            self._awaiting_store.clear()
            for job, fire in waiting:
                if self._is_current(job):
                    self._ticker.push(job, fire)
        flap = len(self._outages) > 1 and (since - self._outages[-2][1]) < _FLAP_WINDOW
        safe_log(
            log,
            logging.DEBUG if flap else logging.WARNING,
            "store available again after %s; %d waiting jobs resume by the catch-up rules",
            format_duration((now - since).total_seconds()),
            len(waiting),
            extra={"outage_seconds": (now - since).total_seconds()},
        )

    def _healthy_for(self, seconds: float) -> bool:
        """No outage now, nor in the last ``seconds``."""
        if self._outage_since is not None:
            return False
        if not self._outages:
            return True
        return (self._now() - self._outages[-1][1]).total_seconds() >= seconds

    def _outage_covers(self, fire: datetime) -> bool:
        if self._outage_since is not None and fire >= self._outage_since:
            return True
        return any(start <= fire <= end for start, end in self._outages)

    def _sync_dynamic(self) -> None:
        """Load jobs added at run time (by any instance) and drop those removed."""
        try:
            loaded = self.store.load_jobs(dynamic_only=True)
        except StoreUnavailable:
            raise
        except Exception as exc:
            # A row written by hand (or by an attacker) that cannot even be parsed must not
            # stop start() nor every later pass: the code's own jobs go on; dynamic ones
            # stay as they are until the row is fixed or removed. Said once per cause.
            if str(exc) != self._sync_error:
                self._sync_error = str(exc)
                safe_log(
                    log,
                    logging.ERROR,
                    "the store holds a job row that cannot be read (%s: %s); jobs added at "
                    "run time are not loaded until it is fixed or removed",
                    type(exc).__name__,
                    exc,
                    extra={"error": str(exc)},
                )
            return
        self._sync_error = None
        if self._check_data_loss():  # an empty store is not a removal of every job
            loaded = self.store.load_jobs(dynamic_only=True)
        stored = {s.definition.id: s for s in loaded}
        for job_id, item in stored.items():
            if job_id in self._jobs or item.broken:
                continue
            definition = item.definition
            ref = str(definition.func_ref or "")
            try:
                # The trust rule first: a function this process did not allow is refused
                # before anything is imported (importing a module runs its code).
                func = self._allowed.resolve(ref)
                # and arguments naming further code or hosts (the Celery/RQ senders'): the
                # function's own check, before anything they name is imported or reached
                self._allowed.check_args(ref, list(definition.args), dict(definition.kwargs))
                trigger = trigger_from_dict(definition.trigger)
                job = Job(
                    self,
                    func,
                    trigger.with_default_timezone(self.timezone),
                    id=job_id,
                    name=definition.name,
                    args=definition.args,
                    kwargs=definition.kwargs,
                    options=JobOptions.build(definition.options),
                    tags=(),
                    dynamic=True,
                    durable=True,
                )
            except Exception as exc:  # whatever a stored row holds, it must not stop us
                self.store.mark_broken(job_id, str(exc))
                safe_log(
                    log,
                    logging.ERROR,
                    "stored job %s (function %s) cannot be loaded: %s; it is kept in the "
                    "store, marked broken, and not run",
                    job_id,
                    ref,
                    exc,
                    extra={"job_id": job_id, "func_ref": ref, "error": str(exc)},
                )
                continue
            with self._lock:
                if job_id not in self._jobs:
                    self._jobs[job_id] = job
                    if self._state == "running":
                        self._activate(job)
        with self._lock:
            gone = [j for j in self._jobs.values() if j.dynamic and j.id not in stored]
            for job in gone:
                del self._jobs[job.id]
                self._ticker.drop(job)
        for job in gone:
            safe_log(
                log,
                logging.INFO,
                "job %s is no longer in the store (removed by another instance); dropped here",
                job.id,
                extra={"job_id": job.id},
            )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Open the store, register the jobs and start the threads; returns at once.

        :raises SchedulerAlreadyRunning: running already, or shut down (make a new one)
        :raises StoreUnavailable: the store cannot be reached (nothing was started)
        """
        from ._procchild import in_worker

        why = in_worker()
        if why is not None:  # the job's module was imported in a worker process: not here
            level = logging.DEBUG if "worker" in why else logging.WARNING
            safe_log(log, level, "not starting the scheduler: %s", why)
            self._stop_requested.set()  # and run_forever() returns at once
            return
        with self._lock:
            if self._state != "stopped":
                raise SchedulerAlreadyRunning(
                    f"the scheduler is {self._state}; a scheduler starts once "
                    f"(create a new Scheduler to start again)"
                )
            self.store.open()
            try:
                if self._store_has_clock:
                    # Fires are timed by the store's clock: know the skew before placing any
                    # (placed by a clock an hour fast, the first fire would wait an hour).
                    self._heartbeat.measure_skew()
                self._state = "running"
                self._accepting = True
                if self.store.durable:
                    self._sync_dynamic()
                for job in list(self._jobs.values()):
                    self._activate(job)
            except BaseException:
                self._state = "stopped"
                self._accepting = False
                self.store.close()
                raise
            self._ticker.start()
            self._heartbeat.start()
        _register_hooks()
        store = _describe_store(self.store)
        safe_log(
            log,
            logging.INFO,
            "scheduler started: instance %s, %d jobs, store %s, zone %s, %d workers",
            self.owner,
            len(self._jobs),
            store,
            tz_name(self.timezone),
            self.max_workers,
            extra={
                "instance": str(self.owner),
                "jobs": len(self._jobs),
                "store": store,
                "timezone": tz_name(self.timezone),
                "workers": self.max_workers,
            },
        )
        if self._events:
            self._events.emit("SchedulerStarted", timestamp=self._now())

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Stop: no new fires, ``cancel_event`` set on every running job, then wait for them.

        Idempotent and safe from an ``atexit`` hook or a signal handler's thread.

        :param wait: wait for running jobs (up to ``timeout``)
        :param timeout: seconds to wait; default ``shutdown_timeout``
        :returns: True when every running job finished in time
        """
        with self._lock:
            if self._state in ("stopping", "shut down"):
                return bool(self._shutdown_result)
            if self._state == "stopped":
                self._state = "shut down"
                self._shutdown_result = True
                if self._procpool is not None:  # call_job() of a process job before start
                    self._procpool.close()
                return True
            self._state = "stopping"
            self._accepting = False
        timeout = self.shutdown_timeout if timeout is None else max(0.0, float(timeout))
        self._ticker.stop(timeout=min(timeout, 5.0) or 0.1)
        with self._runner._lock:
            live = list(self._runner.live.values())
            manual = list(self._runner.manual.values())
        for run in live:
            run.ctx.cancel_event.set()
        for ctx in manual:
            ctx.cancel_event.set()
        still: list[str] = []
        if wait:
            # Real time, not self.clock: this waits for threads, and a virtual clock's
            # monotonic time stands still, so its deadline would never come.
            deadline = time.monotonic() + timeout
            while self._runner.inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(left, 0.005))
        if self._procpool is not None:
            self._stop_processes()
        with self._runner._lock:
            still = sorted(
                {run.job.id for run in self._runner.live.values()}
                | {ctx.job_id for ctx in self._runner.manual.values()}
            )
            timed_out = [run for run in self._runner.live.values() if run.timed_out]
            for run in timed_out:
                run.finishing = True  # a renewal crossing this finish is not a lost lease
        for run in timed_out:  # their outcome is known; free the slot for the next start
            with contextlib.suppress(Exception):
                self.store.finish(
                    run.claim,
                    outcome=RunOutcome.TIMED_OUT,
                    attempt=run.ctx.attempt,
                    error="timed out; still running when the scheduler shut down",
                    cancel_requested=True,
                )
        clean = not still and (wait or self._runner.inflight == 0)
        if still:
            safe_log(
                log,
                logging.WARNING,
                "shutdown: %d jobs still running after %s and left behind (they ignore "
                "cancel_event): %s; their leases expire and a peer records them as lost",
                len(still),
                format_duration(timeout),
                ", ".join(still),
                extra={"still_running": still},
            )
        self._heartbeat.stop(timeout=1.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.store.close()
        with self._lock:
            self._state = "shut down"
            self._shutdown_result = clean
        safe_log(log, logging.INFO, "scheduler shut down (%s)", "clean" if clean else "timed out")
        if self._events:
            self._events.emit(
                "SchedulerShutdown", timestamp=self._now(), clean=clean, still_running=tuple(still)
            )
        self._stop_requested.set()
        return clean

    def _process_pool(self) -> ProcessPool:
        """The worker processes, made on first use (a scheduler without process jobs has none)."""
        pool = self._procpool
        if pool is None:
            with self._lock:
                if self._procpool is None:
                    self._procpool = ProcessPool(
                        self.max_processes, self.max_runs_per_process, self._run_context
                    )
                pool = self._procpool
        return pool

    def _stop_processes(self) -> None:
        """Shutdown's timeout has passed: kill the worker processes still running jobs (nothing
        outlives shutdown), then give their pool threads a moment to record those runs."""
        assert self._procpool is not None
        self._procpool.close()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with self._runner._lock:
                runs = [*self._runner.live.values()]
                manual = [*self._runner.manual.values()]
            jobs = [self._jobs.get(ctx.job_id) for ctx in manual]
            if not any(r.job.options.executor == "process" for r in runs) and not any(
                j is not None and j.options.executor == "process" for j in jobs
            ):
                return
            time.sleep(0.005)

    def run_forever(self, *, configure_logging: bool = True) -> bool:
        """Start (if needed) and block until SIGINT or SIGTERM (or :meth:`shutdown` from
        another thread), then shut down gracefully. What a management command or a
        container entrypoint calls.

        :param configure_logging: as ``scheduler run`` does, add a stderr handler at INFO
            when no handler would handle the ``scheduler`` logger's records (so that a
            script shows that it started and what its jobs do); False leaves logging alone
        :returns: what :meth:`shutdown` returned
        """
        if configure_logging:
            from .cli import has_level_handler, setup_logging

            if not has_level_handler(log):
                setup_logging("INFO", "text")
        # The handlers go in before start(): a signal that arrives while it starts (say, a
        # container stopped at once) must shut down gracefully, not kill the process.
        import signal

        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def request_stop(signum: int, frame: Any) -> None:
                name = signal.Signals(signum).name
                safe_log(log, logging.INFO, "received %s; shutting down", name)
                self._stop_requested.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, request_stop)
        try:
            if self._state == "stopped":
                self.start()
            while not self._stop_requested.wait(1.0):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.shutdown(wait=True)

    def __enter__(self) -> Scheduler:
        if self._state == "stopped":
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        if not hasattr(self, "store"):  # construction failed part-way
            return "<Scheduler (not constructed)>"
        return (
            f"<Scheduler {self._state} jobs={len(self._jobs)} store={type(self.store).__name__} "
            f"zone={tz_name(self.timezone)}>"
        )

    # -- fork ------------------------------------------------------------------------------
    def _after_fork_in_child(self) -> None:
        """Threads do not survive fork(). A shared store lets the child take part (each fire
        is still claimed once); with the memory store the parent keeps running the jobs."""
        was_running = self._state == "running"
        self._lock = threading.RLock()
        self._ticker = Ticker(self, self.tick)
        self._runner = Runner(self)
        self._heartbeat = Heartbeat(self)
        self._pool = DaemonPool(self.max_workers)
        if self._procpool is not None:  # the parent's workers stay the parent's
            self._procpool.forget()
            self._procpool = None
        self._stop_requested = threading.Event()
        self.owner = Owner.current()
        self.store.after_fork()
        self._state = "stopped"
        self._accepting = False
        if not was_running:
            return
        if not self.store.shared:
            self._state = "shut down"
            safe_log(
                log,
                logging.WARNING,
                "process %d was forked from a process running the scheduler with the memory "
                "store; it does not run jobs here (the parent does). Use a shared store "
                "('sqlite:///...') to run it in every worker, each fire once.",
                os.getpid(),
            )
            return
        for job in self._jobs.values():
            job._version += 1
            job._queued = False
        self.start()


_DEFAULT_OPTIONS = JobOptions()
_FLAP_WINDOW = timedelta(seconds=60)
_UTC = zone("UTC")
_hooks_registered = False


def _past_anchor(job: Job, after: datetime) -> datetime:
    """``after`` (now), or the job's stored anchor when that is later: the time the first
    fire of a job being placed (at start, on resume) comes after.

    The anchor an interval counts from (the job's first registration) is the origin of its
    grid, not one of its fires, but the anchored trigger answers any earlier time with the
    anchor itself. Now by the store's clock can be earlier: it is this host's clock
    corrected by a skew measured to within the store's round trip, so it reads up to a
    few ms (under load) before an anchor the store has just set. A fire re-placed from a
    grid since left is another matter: it is due, and the anchor is where it runs
    (``_reschedule_after``).
    """
    anchor = job._anchor
    if anchor is not None and job._effective is not job.trigger and after < anchor:
        return anchor
    return after


def _describe_store(store: Store) -> str:
    """The store for a log line: its kind and where it is, with any password masked."""
    from .stores._url import mask_url

    where = getattr(store, "url", None) or getattr(store, "path", None)
    if isinstance(where, str) and where:
        return f"{type(store).__name__} {mask_url(where)}"
    return type(store).__name__


def _register_hooks() -> None:
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    atexit.register(_shutdown_all)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork)


def _shutdown_all() -> None:
    for sched in list(_instances):
        if sched.running:
            with contextlib.suppress(Exception):
                sched.shutdown(wait=True)


def _after_fork() -> None:
    for sched in list(_instances):
        with contextlib.suppress(Exception):
            sched._after_fork_in_child()


def all_schedulers() -> Iterator[Scheduler]:
    """Every Scheduler alive in this process (for integrations and tests)."""
    return iter(list(_instances))
