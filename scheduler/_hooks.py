"""Process hooks: shut schedulers down at interpreter exit, restart them after ``fork()``.

A scheduler registers itself with :func:`track` when it starts, handing over what to call
at exit and in a forked child. The hooks are installed once per process (the first start):
an ``atexit`` handler that shuts every running scheduler down, and an
``os.register_at_fork(after_in_child=...)`` handler (threads do not survive ``fork()``; the
child rebuilds them). A hook that raises is caught here so that the others still run; the
scheduler's own hook reports what went wrong.

:func:`on_stop_signals` routes SIGINT and SIGTERM to a callback while ``run_forever`` blocks
(main thread only; the previous handlers come back afterwards).

Threads and state
-----------------
* ``_tracked`` (a weak mapping: scheduler -> its two hooks) is guarded by ``_lock``; the
  hooks are called with the lock released, on a snapshot.
* After ``fork()`` only the forking thread exists in the child: ``_lock`` is re-created
  first, since another thread may have held it at the fork.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["on_stop_signals", "shutdown_all", "track"]

Hook = Callable[[Any], None]

_lock = threading.Lock()
_tracked: weakref.WeakKeyDictionary[Any, tuple[Hook, Hook]] = weakref.WeakKeyDictionary()
_installed = False


def track(owner: object, *, at_exit: Hook, after_fork: Hook) -> None:
    """Call ``at_exit(owner)`` at interpreter exit and ``after_fork(owner)`` in a forked
    child, for as long as ``owner`` is alive. Installs the process hooks on first use."""
    global _installed
    with _lock:
        _tracked[owner] = (at_exit, after_fork)
        if _installed:
            return
        _installed = True
    atexit.register(shutdown_all)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork)


def _snapshot() -> list[tuple[Any, tuple[Hook, Hook]]]:
    with _lock:
        return list(_tracked.items())


def shutdown_all() -> None:
    """Shut every running scheduler down (at exit; also before the worker processes stop)."""
    for owner, (at_exit, _) in _snapshot():
        with contextlib.suppress(Exception):
            at_exit(owner)


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    for owner, (_, after_fork) in _snapshot():
        with contextlib.suppress(Exception):  # each hook reports its own failure
            after_fork(owner)


@contextlib.contextmanager
def on_stop_signals(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(signal name)`` on SIGINT and SIGTERM inside the block (in the main
    thread; elsewhere signals cannot be handled and nothing changes), then put the previous
    handlers back."""
    import signal  # run_forever only: `import scheduler` stays light

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def handle(signum: int, frame: Any) -> None:
            callback(signal.Signals(signum).name)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
