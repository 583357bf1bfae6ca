"""The :class:`Scheduler` facade: jobs in, fires out, one clean shutdown.

Quick start::

    sched = Scheduler(timezone="Europe/Bratislava")
    sched.add_job(nightly_report, "0 3 * * *")   # every day at 03:00 Bratislava time
    sched.run_forever()                          # Ctrl-C or SIGTERM: graceful shutdown

Everything you pass is checked when you pass it; nothing is raised later from a background
thread.

The facade checks arguments, wires the pieces (:mod:`scheduler._pieces`) and offers the
public API; the work is done by pieces that own their state (the job registry, ticker,
runner, heartbeat, store health, ...: the README's "Design" section draws them).

Threads and state: ``_state`` and ``_shutdown_result`` are guarded by ``Scheduler._life``,
taken by ``start()`` and ``shutdown()`` (held by ``start()`` across opening the store and
registering the jobs, so the two cannot interleave). It is the first lock in the lock order:
``Scheduler._life``, then ``JobRegistry._lock``, then ``Ticker._lock``; every other lock is
a leaf. The pieces are built in ``__init__`` and rebuilt in a forked child.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import timedelta, tzinfo
from functools import partial
from typing import Any, TypeVar, overload

from . import _hooks
from ._clock import Clock, SystemClock
from ._conveniences import Conveniences
from ._pieces import Pieces, build_pieces
from ._refs import Allowlist, ArgsCheck
from ._report import Reporter
from ._settings import Settings, check_names
from ._tz import tz_name
from .context import RunContext
from .exceptions import (
    InvalidTrigger,
    SchedulerAlreadyRunning,
)
from .job import Job, JobOptions, args_of
from .stores import Owner, Store, from_url
from .triggers import Trigger, coerce
from .triggers.once import Once

__all__ = ["Scheduler"]

F = TypeVar("F", bound=Callable[..., Any])

#: run_forever looks for a stop request this often (seconds; signals wake it anyway)
STOP_POLL = 1.0


def pieces_of(scheduler: Scheduler) -> Pieces:
    """The running pieces of ``scheduler``, for :mod:`scheduler.testing` (not public API;
    read them again after a fork rebuilt them)."""
    return scheduler._pieces


class Scheduler(Conveniences):
    """Runs jobs on a thread pool at the times their triggers say.

    :param timezone: the zone for triggers that do not name one (name, ZoneInfo, pytz, tzinfo)
    :param max_workers: threads running jobs at once
    :param shutdown_timeout: seconds :meth:`shutdown` waits for running jobs by default
    :param tick: the ticker wakes at least this often (to notice wall-clock changes)
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
    :param allowed_modules: modules whose functions jobs added at run time to a durable store
        may name (``["myapp.jobs"]`` allows ``myapp.jobs.nightly``, not ``myapp.jobsevil``),
        besides :meth:`task` functions; other stored jobs are marked broken (docs/security.md)
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

            check_names(unknown, [p for p in inspect.signature(Scheduler).parameters][:-1])
        cfg = self._settings = Settings.build(
            timezone=timezone,
            max_workers=max_workers,
            shutdown_timeout=shutdown_timeout,
            tick=tick,
            lease_seconds=lease_seconds,
            run_context=run_context,
            max_processes=max_processes,
            max_runs_per_process=max_runs_per_process,
        )
        self.timezone, self.tick, self.lease_seconds = cfg.timezone, cfg.tick, cfg.lease_seconds
        self.max_workers, self.shutdown_timeout = cfg.max_workers, cfg.shutdown_timeout
        self.max_processes, self.max_runs_per_process = cfg.max_processes, max_runs_per_process
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._allowed = Allowlist(allowed_modules)
        self.store: Store = store if isinstance(store, Store) else from_url(store)
        self.store.bind_clock(self.clock)
        self.owner = Owner.current()
        self._life = threading.RLock()
        self._state = "stopped"  # Invariant: written under _life
        self._shutdown_result: bool | None = None  # Invariant: written under _life
        self._stop_requested = threading.Event()
        self._reporter = Reporter(self.clock.now)  # store time once _build made it
        self._build(jobs=())
        _hooks.track(self, at_exit=Scheduler._at_exit, after_fork=Scheduler._after_fork_in_child)

    def _build(self, jobs: Iterable[Job]) -> None:
        """Build the pieces (in ``__init__``, and again in a forked child)."""
        self._pieces = pieces = build_pieces(
            settings=self._settings,
            store=self.store,
            owner=self.owner,
            clock=self.clock,
            reporter=self._reporter,
            make_job=self._make_job,
            make_view=partial(Job.from_stored, self, default_timezone=self.timezone),
            new_context=partial(RunContext, scheduler=self),
            allowed=self._allowed,
            jobs=jobs,
        )
        self._now = pieces.now
        self._registry, self._runner, self._sync = pieces.registry, pieces.runner, pieces.sync
        self._ticker, self._heartbeat, self._pool = pieces.ticker, pieces.heartbeat, pieces.pool
        self._control = pieces.control

    # -- state -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def state(self) -> str:
        """``'stopped'`` (not started yet), ``'running'``, ``'stopping'`` or ``'shut down'``."""
        return self._state

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
        opts = JobOptions.for_job(options, func, id)
        if isinstance(trig, Once) and trig.when <= self._now():
            raise InvalidTrigger(
                f"Once({trig.when.isoformat()}) is in the past (now is "
                f"{self._now().isoformat()}); a one-off job needs a future time"
            )
        running = self._state == "running"
        job = self._make_job(
            func,
            trig,
            id=id,
            name=name,
            args=args_of(args),
            kwargs=kwargs,
            options=opts,
            tags=tags,
            dynamic=running and self.store.durable,
            durable=self.store.durable,
        )
        if job.dynamic:  # the checks every instance makes before loading it (DynamicSync)
            self._allowed.check_dynamic(job.func, job.func_ref or "", job.id, job.args, job.kwargs)
        self._registry.add(job, replace_existing=replace_existing, activate=running)
        return job

    def _make_job(self, func: Callable[..., Any], trigger: Trigger, **fields: Any) -> Job:
        """A Job of this scheduler (also for jobs loaded from the store), checked whole."""
        return Job.checked(self, self._settings.run_context, func, trigger, **fields)

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
        here (import the module with the ``@sched.task`` functions in every process) and
        those under ``allowed_modules``. Schedules nothing by itself.

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

    def get_jobs(self) -> list[Job]:
        """The jobs, in the order they were added. Before :meth:`start`, with a durable store,
        the jobs added at run time (by any instance) follow, from their stored definitions:
        ``dynamic`` True, ``func_ref`` naming the function (*not* imported: ``start()``
        loads them), ``broken`` saying why one cannot run; ``paused`` as the store says."""
        jobs = self._registry.jobs()
        if self._state == "stopped":
            jobs += self._pieces.preview.stored_jobs({job.id for job in jobs})
            self._control.refresh(jobs)  # paused as the store says
        return jobs

    def get_job(self, job_id: str) -> Job:
        """The job with this id; before :meth:`start` also a dynamic one in the store (see
        :meth:`get_jobs`).

        :raises JobNotFound: no such id
        """
        job = self._registry.find(job_id)
        if self._state == "stopped":
            job = job or self._pieces.preview.stored_job(job_id)
            self._control.refresh([job] if job else [])  # paused as the store says
        return job if job is not None else self._registry.get(job_id)

    def remove_job(self, job_id: str) -> None:
        """Stop scheduling the job here. A job added at run time to a durable store is
        removed from the store too, so every instance drops it (before start, unloaded).

        :raises JobNotFound: no such id
        :raises StoreUnavailable: before start, the store holding the job cannot be reached
        """
        if self._state == "stopped" and self._registry.find(job_id) is None and self.store.durable:
            self._pieces.preview.remove_stored(job_id)
        else:
            self._registry.remove(job_id)

    def pause_job(self, job_id: str) -> Job:
        """Pause the job for every instance sharing the store (within a heartbeat, at most
        ``lease_seconds / 3``) until :meth:`resume_job`, across restarts; works before start.

        :raises JobNotFound: neither this process nor the store has the job
        :raises StoreUnavailable: the store cannot be reached (nothing was paused)
        """
        return self._control.set_paused(job_id, True)

    def resume_job(self, job_id: str) -> Job:
        """Resume it everywhere; its next fire is computed from now (the fires missed while
        paused are not caught up). Raises as :meth:`pause_job`."""
        return self._control.set_paused(job_id, False)

    def request_run(self, job_id: str, requested_by: str | None = None) -> str:
        """Ask for a run now, from any process (before start too): one running instance takes
        it within a heartbeat, within ``max_instances`` (at the limit it waits, queued), and
        records it with ``trigger="manual"``. Queued while no instance runs. Raises as
        :meth:`pause_job`.

        :returns: the request's key: the ``run_id`` of the run it becomes
        """
        return self._control.request(job_id, requested_by)

    def run_job(self, job_id: str, requested_by: str | None = None) -> Future[Any]:
        """Run the job now on this pool, whatever ``max_instances`` says; claimed and recorded
        (``trigger="manual"``). The Future gives its return value or exception.

        :raises JobNotFound: no such id
        :raises SchedulerNotRunning: before :meth:`start` or after shutdown
        :raises StoreUnavailable: the store cannot be reached (nothing ran)
        """
        job = self.get_job(job_id)
        return self._control.run_now(job, requested_by, running=self._state == "running")

    def call_job(self, job_id: str, requested_by: str | None = None) -> Any:
        """Run the job now on *this* thread, started or not (what ``flask scheduler run-job``
        does: starting would run whatever else is due); ``run_context`` and ``current_job()``
        as on the pool; claimed and recorded (``trigger="manual"``). Returns its value.

        :raises JobNotFound: no such id
        :raises StoreUnavailable: the store cannot be reached (nothing ran)
        :raises BaseException: whatever the job raised
        """
        return self._control.call_here(self.get_job(job_id), requested_by)

    def add_listener(
        self, callback: Callable[[Any], Any], events: Iterable[type[Any]] | None = None
    ) -> None:
        """Call ``callback(event)`` for each event of the given classes (all by default)."""
        self._reporter.events.add(callback, events)

    def remove_listener(self, callback: Callable[[Any], Any]) -> None:
        self._reporter.events.remove(callback)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Open the store, register the jobs and start the threads; returns at once.

        :raises SchedulerAlreadyRunning: running already, or shut down (make a new one)
        :raises StoreUnavailable: the store cannot be reached (nothing was started)
        """
        from ._procchild import in_worker

        why = in_worker()
        if why is not None:  # the job's module was imported in a worker process: not here
            self._reporter.not_starting(why)
            self._stop_requested.set()  # and run_forever() returns at once
            return
        with self._life:
            if self._state != "stopped":
                raise SchedulerAlreadyRunning(
                    f"the scheduler is {self._state}; a scheduler starts once "
                    f"(create a new Scheduler to start again)"
                )
            self.store.open()
            try:
                self._state = "running"
                self._pieces.place_jobs(self.store)
            except BaseException:
                self._state = "stopped"
                self._runner.stop_accepting()
                self.store.close()
                raise
            self._pieces.start_threads()
        self._reporter.started(
            self.owner,
            len(self._registry),
            self.store,
            tz_name(self.timezone),
            self.max_workers,
        )

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> bool:
        """Stop: no new fires, ``cancel_event`` set on every running job, then wait for them.
        Idempotent and safe from an ``atexit`` hook or a signal handler's thread.

        :param wait: wait for running jobs (up to ``timeout``)
        :param timeout: seconds to wait; default ``shutdown_timeout``
        :returns: True when every running job finished in time
        """
        with self._life:
            if self._state in ("stopping", "shut down"):
                return bool(self._shutdown_result)
            if self._state == "stopped":
                self._state = "shut down"
                self._shutdown_result = True
                self._pieces.processes.close()  # call_job() of a process job before start
                return True
            self._state = "stopping"
            self._runner.stop_accepting()
        timeout = self.shutdown_timeout if timeout is None else max(0.0, float(timeout))
        clean, still = self._pieces.stop(wait=wait, timeout=timeout)
        with contextlib.suppress(Exception):
            self.store.close()
        with self._life:
            self._state = "shut down"
            self._shutdown_result = clean
        self._reporter.shut_down(clean, still)
        self._stop_requested.set()
        return clean

    def run_forever(self, *, configure_logging: bool = True) -> bool:
        """Start (if needed) and block until SIGINT or SIGTERM (or :meth:`shutdown` from
        another thread), then shut down gracefully (a management command's, a container's).

        :param configure_logging: as ``scheduler run`` does, add a stderr handler at INFO
            when no handler would handle the ``scheduler`` logger's records; False doesn't
        :returns: what :meth:`shutdown` returned
        """
        if configure_logging:
            from ._logsetup import has_level_handler, setup_logging

            if not has_level_handler(logging.getLogger("scheduler")):
                setup_logging("INFO", "text")
        # The handlers go in before start(): a signal that arrives while it starts (say, a
        # container stopped at once) must shut down gracefully, not kill the process.
        with _hooks.on_stop_signals(self._stop_signal):
            if self._state == "stopped":
                self.start()
            while not self._stop_requested.wait(STOP_POLL):
                pass
        return self.shutdown(wait=True)

    def _stop_signal(self, name: str) -> None:
        self._reporter.signal(name)
        self._stop_requested.set()

    def __repr__(self) -> str:
        if not hasattr(self, "_registry"):  # construction failed part-way
            return "<Scheduler (not constructed)>"
        return (
            f"<Scheduler {self._state} jobs={len(self._registry)} "
            f"store={type(self.store).__name__} zone={tz_name(self.timezone)}>"
        )

    # -- process hooks (scheduler._hooks calls them) ---------------------------------------
    def _at_exit(self) -> None:
        if self._state == "running":
            self.shutdown(wait=True)

    def _after_fork_in_child(self) -> None:
        """Threads do not survive fork(). A shared store lets the child take part (each fire
        is still claimed once); with the memory store the parent keeps running the jobs.
        Every lock is new: a parent thread may have held one at the fork."""
        was_running = self._state == "running"
        jobs = self._registry.after_fork_jobs()  # out of the parent's heap, which is gone
        self._life = threading.RLock()
        self._stop_requested = threading.Event()
        self.owner = Owner.current()
        self.store.after_fork()
        self._reporter.after_fork()
        self._pieces.processes.forget()  # the parent's workers stay the parent's
        self._build(jobs)
        self._state = "stopped"
        if not was_running:
            return
        if not self.store.shared:
            self._state = "shut down"
            self._reporter.forked_with_memory_store(os.getpid())
            return
        try:
            self.start()
        except Exception as exc:  # the child runs no jobs: say why, loudly
            self._reporter.restart_after_fork_failed(os.getpid(), exc)

