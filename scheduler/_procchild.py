"""The worker process of ``executor="process"``: runs one job call at a time for its parent.

This module runs in the child; :mod:`scheduler._procpool` is the parent's side.

Threads and state (in the worker process)
-----------------------------------------
* The main thread reads requests from ``conn`` and calls each job on itself (so a job may
  install signal handlers, e.g. for SIGTERM). It is the only reader of ``conn``.
* Everything the child writes to ``conn`` (log records from any thread, then the reply)
  goes through :func:`_send`, under ``_send_lock``: one ordered stream, so the records a
  job logged reach the parent before its outcome.
* A watcher thread reads ``cancel_conn``. A run number sets that run's ``cancel_event``
  (``_current``, guarded by ``_current_lock``); end of file means the parent closed it or
  died, and the process group ends at once: no job outlives its scheduler.
* The parent owns this process's life: SIGINT is ignored (Ctrl-C reaches the parent, which
  shuts down and stops its workers); SIGTERM and SIGKILL come from the parent, sent to the
  process group this worker leads, so that subprocesses a job started end with it.

Protocol: the parent sends ``("run", n, payload)``; the child answers with any number of
``("log", record dict)`` and one ``("done", n, status, value, traceback text)`` where
status is ``"ok"`` (value: the return value), ``"repr"`` (value: its repr, as it did not
pickle), ``"error"`` (value: the exception) or ``"error-text"`` (value: ``"Type: text"``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from logging.handlers import QueueHandler
from typing import Any

from . import context
from ._refs import resolve

__all__ = ["ChildJob", "in_worker", "main"]

#: True in a worker process (Scheduler.start() does nothing there)
_in_worker = False
_send_lock = threading.Lock()
_current_lock = threading.Lock()
_current: tuple[int, threading.Event] | None = None  # guarded by _current_lock
_funcs: dict[str, Callable[..., Any]] = {}
_wraps: dict[bytes, Any] = {}
_PLAIN = (str, int, float, bool, type(None))


def in_worker() -> str | None:
    """Why this process must not start a scheduler, or None: it is a worker of a process
    executor, or a process that ``multiprocessing`` started and that is re-running the main
    script (the forkserver, a spawned child: the script lacks its ``__main__`` guard)."""
    if _in_worker:
        return "this is a worker process of executor='process'"
    main = sys.modules.get("__main__")
    if getattr(main, "__name__", None) == "__mp_main__":
        return (
            "this process was started by multiprocessing and is re-importing the main "
            "script; guard the script's entry point with `if __name__ == '__main__':`"
        )
    return None


@dataclass(frozen=True)
class ChildJob:
    """What ``run_context(job)`` receives in a worker process, in place of the Job."""

    id: str
    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _Handler(QueueHandler):
    """A QueueHandler whose queue is the pipe to the parent; adds the run's extra fields."""

    def __init__(self, conn: Any) -> None:
        super().__init__(self)  # type: ignore[arg-type]  # this object is its own queue
        self.conn = conn
        self.extra: dict[str, Any] = {}

    def put_nowait(self, item: dict[str, Any]) -> None:
        try:
            _send(self.conn, ("log", item))
        except (pickle.PicklingError, TypeError, AttributeError):
            plain = {k: v if isinstance(v, _PLAIN) else repr(v) for k, v in item.items()}
            _send(self.conn, ("log", plain))

    def prepare(self, record: logging.LogRecord) -> Any:
        data = dict(record.__dict__)
        data["msg"] = record.getMessage()
        data["args"] = None
        if record.exc_info:
            if not record.exc_text:
                data["exc_text"] = logging.Formatter().formatException(record.exc_info)
            data["exc_info"] = None
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return data


def _send(conn: Any, message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # fails before a write
    with _send_lock:
        conn.send_bytes(data)


def _watch(cancel_conn: Any) -> None:
    while True:
        try:
            number = cancel_conn.recv()
        except (EOFError, OSError):
            # the parent retired this worker, or died: nothing of it outlives that, the
            # job's own subprocesses included (they are in this worker's process group)
            if hasattr(os, "killpg") and os.getpgid(0) == os.getpid():
                os.killpg(0, signal.SIGKILL)
            os._exit(0)
        with _current_lock:
            current = _current
        if current is not None and current[0] == number:
            current[1].set()


def main(conn: Any, cancel_conn: Any) -> None:
    """The worker's entry point (the Process target)."""
    global _in_worker
    _in_worker = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "setpgid"):  # a group of its own: a kill reaches the job's subprocesses
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    handler = _Handler(conn)
    watcher = threading.Thread(target=_watch, args=(cancel_conn,), name="scheduler-cancel")
    watcher.daemon = True
    watcher.start()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent retired this worker (or is gone)
        if request[0] != "run":
            return
        _, number, payload = request
        _own_root(handler)
        for name, level in payload["levels"].items():
            logging.getLogger(name or None).setLevel(level)
        handler.extra = payload["extra"]
        try:
            reply = _run(number, payload, lambda: _own_root(handler))
        finally:
            handler.extra = {}
        try:
            _send(conn, reply)
        except Exception:  # the return value does not pickle: send its repr instead
            _send(conn, ("done", number, "repr", _short_repr(reply[3]), None))


def _own_root(handler: logging.Handler) -> None:
    """Records go to the parent only: drop handlers an import added (``basicConfig()``)."""
    root = logging.getLogger()
    for other in [h for h in root.handlers if h is not handler]:
        root.removeHandler(other)
    if handler not in root.handlers:
        root.addHandler(handler)


def _run(number: int, payload: dict[str, Any], imported: Callable[[], None]) -> tuple[Any, ...]:
    global _current
    cancel = threading.Event()
    with _current_lock:
        _current = (number, cancel)
    ctx = context.RunContext(
        job_id=payload["job_id"],
        scheduled_time=payload["scheduled_time"],
        attempt=payload["attempt"],
        cancel_event=cancel,
        fencing_token=payload["fencing_token"],
        run_id=payload["run_id"],
    )
    try:
        # the run_context hook first: unpickling it may set up what importing the job's
        # module needs (Django's app registry)
        wrap = _load_wrap(payload["wrap"])
        func = _funcs.get(payload["func_ref"])
        if func is None:
            func = _funcs[payload["func_ref"]] = resolve(payload["func_ref"])
            imported()
        args, kwargs = payload["args"], payload["kwargs"]
        context._set(ctx)
        if wrap is None:
            value = func(*args, **kwargs)
        else:
            job = ChildJob(id=ctx.job_id, name=payload["name"], func=func, args=tuple(args),
                           kwargs=kwargs)  # fmt: skip
            with wrap(job):
                value = func(*args, **kwargs)
        return ("done", number, "ok", value, None)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are a failed run too
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            return ("done", number, "error-text", f"{type(exc).__name__}: {exc}", text)
        exc.__traceback__ = None
        return ("done", number, "error", exc, text)
    finally:
        context._set(None)
        with _current_lock:
            _current = None
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


def _load_wrap(blob: bytes | None) -> Any:
    if blob is None:
        return None
    wrap = _wraps.get(blob)
    if wrap is None:
        wrap = _wraps[blob] = pickle.loads(blob)
    return wrap


def _short_repr(value: object) -> str:
    from ._report_runs import short_repr

    return short_repr(value) or "None"
