"""``executor="process"``: call a job in a worker process that can really be stopped.

The runner does everything else as for a thread (claim, lease, retries, events, history,
``max_instances``); only "call the function" happens here, on the pool thread that runs
the fire, which waits for the worker's answer. :mod:`scheduler._procchild` is the child.

Workers start with ``forkserver`` where the platform has it, else ``spawn``; never plain
``fork`` (a fork of a threaded process can inherit a lock held by another thread). They
start on first use, are reused, are replaced when they die, and retire after
``max_runs_per_process`` runs when that is set. Function and arguments travel by pickle
over a pipe (the function by its import path), and nothing of them is stored.

Stopping a run: when its ``cancel_event`` is set (timeout, shutdown, lost lease) the
worker's copy is set too; ``timeout_grace`` seconds later it gets SIGTERM, and
``_KILL_AFTER`` seconds after that SIGKILL. Shutdown does the same to whatever still runs
when its own timeout has passed (:meth:`ProcessPool.close`), so nothing outlives it.

Threads and state
-----------------
* :meth:`ProcessPool.call` runs on the scheduler's pool threads, several at once. A worker
  belongs to the thread between taking it (``_take``) and giving it back (``_give_back``):
  only that thread talks to it over its pipes.
* ``_lock`` guards ``_idle``, ``_busy`` and ``_closed``. ``_slots`` (a semaphore of
  ``max_processes``) counts workers that may be busy at once.
* Another thread may signal a busy worker (:meth:`close` at shutdown); the status of a
  process (poll, join) is read under the worker's own ``lock`` only, since two threads
  reading a forkserver child's exit status could each read half of it.
* Logs from a worker arrive on its pipe and are handed to this process's loggers by the
  thread waiting for that worker, in order, before the run's outcome.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import pickle
import signal
import threading
import time
import weakref
from datetime import timezone
from typing import TYPE_CHECKING, Any

from . import _procchild, context
from ._log import safe_log
from ._procwire import answer, dispatch, how, levels
from ._refs import stable_ref
from .exceptions import ProcessDied

if TYPE_CHECKING:
    from .job import Job

__all__ = ["ProcessPool"]

log = logging.getLogger("scheduler")

_TERM = signal.SIGTERM
_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL
_POLL = 0.05  #: how often a waiting thread looks at the run's cancel_event
_KILL_AFTER = 1.0  #: seconds from SIGTERM to SIGKILL
_names = itertools.count(1)
_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()
_atexit_registered = False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the worker leads its own group (see _procchild.main)
    except (AttributeError, OSError):  # no killpg, or the group is not there yet
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class _Worker:
    __slots__ = ("cancel_conn", "conn", "exitcode", "killed", "lock", "process", "runs", "seq")

    def __init__(self, process: Any, conn: Any, cancel_conn: Any) -> None:
        self.process = process
        self.conn = conn
        self.cancel_conn = cancel_conn
        self.lock = threading.Lock()
        self.runs = 0
        self.seq = 0
        self.exitcode: int | None = None  # set once the process is reaped
        self.killed: str | None = None  # why this side signalled it, if it did

    def wait(self, timeout: float) -> int | None:
        """The exit code once the process has ended (waiting up to ``timeout``), else None."""
        with self.lock:
            if self.exitcode is None:
                self.process.join(timeout)
                self.exitcode = self.process.exitcode
            return self.exitcode

    def signal(self, sig: int, why: str) -> None:
        """Signal the worker's process group: the job's own subprocesses go with it."""
        with self.lock:
            if self.exitcode is None:
                self.killed = self.killed or why
                _signal_group(self.process.pid, sig)

    def end_group(self) -> None:
        """Once the worker has ended: SIGKILL what its job left in its process group."""
        if hasattr(os, "killpg"):
            try:
                os.killpg(self.process.pid, _KILL)
            except OSError:
                pass  # no such group: nothing was left

    def close_pipes(self) -> None:
        for conn in (self.conn, self.cancel_conn):
            try:
                conn.close()
            except OSError:
                pass


class ProcessPool:
    """Worker processes for one scheduler.

    :param max_processes: workers running jobs at once
    :param max_runs: runs after which a worker retires (None: no limit)
    :param run_context: the scheduler's hook, pickled once and rebuilt in each worker
    """

    def __init__(self, max_processes: int, max_runs: int | None, run_context: Any) -> None:
        self.max_processes = max_processes
        self._max_runs = max_runs
        self._wrap = None if run_context is None else pickle.dumps(run_context)
        self._slots = threading.Semaphore(max_processes)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # guarded by _lock
        self._busy: set[_Worker] = set()  # guarded by _lock
        self._closed = False  # guarded by _lock
        self._mp: Any = None

    # -- one call --------------------------------------------------------------------------
    def call(self, job: Job, ctx: context.RunContext) -> tuple[bool, Any, BaseException | None]:
        """Call ``job`` in a worker; ``(True, value, None)`` or ``(False, None, error)``."""
        worker = self._take(ctx.cancel_event)
        if isinstance(worker, BaseException):
            return False, None, worker
        try:
            return self._run(worker, job, ctx)
        finally:
            self._give_back(worker)

    def _run(self, w: _Worker, job: Job, ctx: context.RunContext) -> tuple[bool, Any, Any]:
        from multiprocessing.connection import wait

        w.seq += 1
        number = w.seq
        payload = {
            "job_id": job.id,
            "name": job.name,
            "func_ref": stable_ref(job.func),  # checked at add_job: it imports back
            "args": job.args,
            "kwargs": job.kwargs,
            "scheduled_time": ctx.scheduled_time,
            "attempt": ctx.attempt,
            "fencing_token": ctx.fencing_token,
            "run_id": ctx.run_id,
            "wrap": self._wrap,
            "levels": levels(),
            "extra": {
                "job_id": job.id,
                "job_name": job.name,
                "scheduled_time": ctx.scheduled_time.astimezone(timezone.utc).isoformat(),
                "attempt": ctx.attempt,
                "run_id": ctx.run_id,
                "worker_pid": w.process.pid,
            },
        }
        try:
            w.conn.send(("run", number, payload))
        except OSError:
            return False, None, self._died(w, job)
        except Exception as exc:  # pickling: an argument changed since add_job
            return False, None, exc
        grace = job.options.timeout_grace
        cancelled = terminated = None
        while True:
            ready = wait([w.conn, w.process.sentinel], _POLL)
            if w.conn in ready:
                try:
                    message = w.conn.recv()
                except (EOFError, OSError):
                    return False, None, self._died(w, job)
                except Exception as exc:  # a value or exception that will not unpickle here
                    return False, None, RuntimeError(f"the worker's answer did not unpickle: {exc}")
                if message[0] == "log":
                    dispatch(message[1])
                elif message[0] == "done" and message[1] == number:
                    return answer(message)
                continue
            if ready:  # the sentinel alone: the process ended
                return False, None, self._died(w, job)
            now = time.monotonic()
            if cancelled is None:
                if ctx.cancel_event.is_set():
                    cancelled = now
                    try:
                        w.cancel_conn.send(number)
                    except OSError:
                        pass
            elif terminated is None and now >= cancelled + grace:
                terminated = now
                _log_kill(job, w, "SIGTERM", grace)
                w.signal(_TERM, _late(grace))
            elif terminated is not None and now >= terminated + _KILL_AFTER:
                _log_kill(job, w, "SIGKILL", grace)
                w.signal(_KILL, _late(grace))

    def _died(self, w: _Worker, job: Job) -> ProcessDied:
        """The worker ended without an answer: drain its last log records, say how it ended."""
        while True:
            try:
                if not w.conn.poll():
                    break
                message = w.conn.recv()
            except Exception:  # end of pipe, or half a message cut by the kill
                break
            if message[0] == "log":
                dispatch(message[1])
        code = w.wait(5.0)
        if code is None:  # the pipe broke but the process lives on: it cannot be trusted
            w.signal(_KILL, "its pipe broke")
            code = w.wait(5.0)
        w.end_group()
        ended = how(code)
        pid = w.process.pid
        if w.killed is not None:
            end = f"signal {ended.rpartition(' signal ')[2]}" if code and code < 0 else ended
            text = f"the worker process (pid {pid}) was killed ({end}): {w.killed}"
            return ProcessDied(text, killed=True, exitcode=code)
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if code == -9 else ""
        text = f"the worker process (pid {pid}) running job {job.id!r} {ended}{hint}"
        return ProcessDied(text, killed=False, exitcode=code)

    # -- workers ---------------------------------------------------------------------------
    def _take(self, cancel: Any) -> _Worker | BaseException:
        closed = RuntimeError("the scheduler shut down before a worker process was free")
        while not self._slots.acquire(timeout=_POLL):
            if cancel.is_set():
                return RuntimeError(
                    f"cancelled while waiting for a free worker process "
                    f"(max_processes={self.max_processes})"
                )
            if self._closed:
                return closed
        with self._lock:
            if self._closed:
                self._slots.release()
                return closed
            while self._idle:
                w = self._idle.pop()
                if w.wait(0) is None:
                    self._busy.add(w)
                    return w
                w.close_pipes()  # it died while idle; a new one replaces it
        try:
            w = self._start()
        except BaseException as exc:
            self._slots.release()
            safe_log(log, logging.ERROR, "could not start a worker process: %s", exc,
                     exc_info=True)  # fmt: skip
            return RuntimeError(f"could not start a worker process: {exc}")
        with self._lock:
            if not self._closed:
                self._busy.add(w)
                return w
        self._retire(w)
        self._slots.release()
        return closed

    def _give_back(self, w: _Worker) -> None:
        w.runs += 1
        alive = w.wait(0) is None and w.killed is None
        with self._lock:
            self._busy.discard(w)
            keep = alive and not self._closed
            keep = keep and (self._max_runs is None or w.runs < self._max_runs)
            if keep:
                w.killed = None
                self._idle.append(w)
        if not keep:
            self._retire(w)
        self._slots.release()

    def _start(self) -> _Worker:
        global _atexit_registered
        if self._mp is None:
            import multiprocessing
            import multiprocessing.util  # registers its exit hook before ours

            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            self._mp = multiprocessing.get_context(method)
            _pools.add(self)
            if not _atexit_registered:  # after multiprocessing's own hook, so it runs first
                _atexit_registered = True
                atexit.register(_close_all)
        ours, theirs = self._mp.Pipe(duplex=True)
        cancel_theirs, cancel_ours = self._mp.Pipe(duplex=False)
        for spawn in (False, True):
            process = self._mp.Process(
                target=_procchild.main,
                args=(theirs, cancel_theirs),
                name=f"scheduler-process-{next(_names)}",
            )
            try:
                process.start()
                break
            except ChildProcessError:
                # This process was forked from one that had started multiprocessing's
                # forkserver (gunicorn --preload): that server is the parent's. Spawn here.
                if spawn or self._mp.get_start_method() != "forkserver":
                    raise
                import multiprocessing

                self._mp = multiprocessing.get_context("spawn")
                log.info("the forkserver belongs to the process this one was forked from; "
                         "worker processes are spawned here instead")  # fmt: skip
        theirs.close()
        cancel_theirs.close()
        log.debug("started worker process %d", process.pid, extra={"worker_pid": process.pid})
        return _Worker(process, ours, cancel_ours)

    def _retire(self, w: _Worker) -> None:
        """Stop a worker that is not running a job: closing its pipes ends it."""
        w.close_pipes()
        if w.wait(_KILL_AFTER) is None:
            w.signal(_KILL, "it did not exit when retired")
            w.wait(5.0)

    # -- shutdown --------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker: idle ones exit, busy ones get SIGTERM, then SIGKILL. Returns
        once all have ended (the threads waiting on busy ones then record their runs)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
        for w in busy:
            w.signal(_TERM, "the scheduler shut down")
        for w in idle:
            w.close_pipes()
        deadline = time.monotonic() + _KILL_AFTER
        for w in busy + idle:
            if w.wait(max(0.0, deadline - time.monotonic())) is None:
                w.signal(_KILL, "the scheduler shut down")
                w.wait(5.0)

    def forget(self) -> None:
        """In a child forked from this process: drop the parent's workers without
        touching them (closing our copies of the pipes only)."""
        with self._lock:
            workers = [*self._idle, *self._busy]
            self._idle, self._busy, self._closed = [], set(), True
        for w in workers:
            w.close_pipes()


def _log_kill(job: Job, w: _Worker, sig: str, grace: float) -> None:
    safe_log(
        log,
        logging.WARNING,
        "job %s: sending %s to its worker process %d, still running %gs after its "
        "cancel_event was set",
        job.id,
        sig,
        w.process.pid,
        grace if sig == "SIGTERM" else grace + _KILL_AFTER,
        extra={"job_id": job.id, "worker_pid": w.process.pid, "signal": sig},
    )


def _late(grace: float) -> str:
    return f"it was still running timeout_grace ({grace:g}s) after its cancel_event was set"


def _close_all() -> None:
    """At exit, before multiprocessing joins its children: shut running schedulers down
    gracefully (their process runs are cancelled, then killed), then stop every worker."""
    from ._hooks import shutdown_all

    shutdown_all()
    for pool in list(_pools):
        try:
            pool.close()
        except Exception:
            pass
