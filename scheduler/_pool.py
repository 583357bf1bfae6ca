"""The worker pool: a ``concurrent.futures.Executor`` whose threads never hold up exit.

The stdlib ``ThreadPoolExecutor`` joins its workers without a timeout when the interpreter
exits, so one job that ignores its ``cancel_event`` would keep the process alive after
``shutdown()`` gave up on it. These workers are daemon threads: ``Scheduler.shutdown`` waits
for them as long as its timeout says, and the interpreter never waits for them at all.

Threads start lazily, one per submission while none is free, up to ``max_workers``.

:meth:`DaemonPool.run` is the fast path for callers that handle their own errors (the
runner): no ``Future``, hence no ``Condition`` to build and notify per task.

Accounting, without a lock on the workers' side: a worker that finishes a task appends a
token to ``_free`` (a deque: append and pop are atomic); a submission, under the submitters'
lock, pops one if there is one, else starts a thread while the pool is not full. Below
``max_workers`` the tokens are exactly the workers not running a task minus the tasks
waiting in the queue, so every queued task has a worker that is, or will be, waiting on the
queue (no lost wake-up) and no thread starts while one is free. Once the pool is full no
thread starts again, and the tokens (capped at ``max_workers``) no longer matter.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ._log import safe_log

__all__ = ["DaemonPool"]

log = logging.getLogger("scheduler")

_STOP = object()
_names = itertools.count(1)


class DaemonPool(Executor):
    def __init__(self, max_workers: int, name: str = "scheduler-worker") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._name = name
        #: items: ``(fn, args, future, kwargs)``; future and kwargs are None for run()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._free: deque[None] = deque()
        self._shutdown = False

    def run(self, fn: Callable[..., Any], /, *args: Any) -> None:
        """Call ``fn(*args)`` on a worker, fire and forget: no Future, nothing returned.

        ``fn`` handles its own exceptions (one that escapes is logged and dropped). A task
        still queued when ``shutdown(cancel_futures=True)`` runs is dropped unrun.

        :raises RuntimeError: after :meth:`shutdown`
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            self._queue.put((fn, args, None, None))
            if self._free:
                self._free.pop()  # that worker is spoken for
            elif len(self._threads) < self._max:
                self._spawn()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            self._queue.put((fn, args, future, kwargs))
            if self._free:
                self._free.pop()  # that worker is spoken for
            elif len(self._threads) < self._max:
                self._spawn()
        return future

    def _spawn(self) -> None:
        """Start a worker for the task just queued; caller holds the lock."""
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{next(_names)}", daemon=True
        )
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        get = self._queue.get
        free = self._free
        cap = self._max
        try:
            while True:
                item = get()
                if item is _STOP:
                    return
                fn, args, future, kwargs = item
                del item
                if future is None:
                    try:
                        fn(*args)
                    except BaseException:  # the caller should have caught it: a last guard
                        safe_log(
                            log, logging.ERROR, "uncaught error in %r on a pool thread", fn,
                            exc_info=True,
                        )
                elif future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:  # the runner catches; this is a last guard
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                # drop references before waiting: a finished task must not be kept alive
                fn = args = future = kwargs = result = None
                if len(free) < cap:
                    free.append(None)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP and item[2] is not None:
                    item[2].cancel()
        for _ in threads:
            self._queue.put(_STOP)
        if wait:
            for thread in threads:
                thread.join()

    @property
    def threads(self) -> int:
        return len(self._threads)
