"""Listener dispatch: survives listeners that raise, and costs nothing without listeners.

Call sites name the event class (``emit("JobStarted", ...)``): :mod:`scheduler.events` is
imported, and the event built, only when a listener is registered, which keeps
``import scheduler`` and the hot path of a fire free of event objects nobody reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._log import safe_log
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .events import Event

__all__ = ["Dispatcher"]

log = logging.getLogger("scheduler")

Listener = Callable[["Event"], Any]


class Dispatcher:
    """The listeners of one scheduler.

    ``_listeners`` is an immutable tuple, replaced whole under ``_lock`` by :meth:`add` and
    :meth:`remove` (callers of the public API); :meth:`emit` reads it without the lock, from
    any thread, and calls listeners with no lock of ours held.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards replacing _listeners; never held by emit()
        self._listeners: tuple[tuple[Listener, tuple[type[Event], ...]], ...] = ()
        #: whether any listener is registered (kept with _listeners; read without the lock)
        self.listeners = False
        self._reported: set[int] = set()  # listeners whose error was logged (set ops only)

    def after_fork(self) -> None:
        """In a forked child: a parent thread may have held the lock at the fork."""
        self._lock = threading.Lock()

    def add(self, callback: Listener, events: Iterable[type[Event]] | None = None) -> None:
        from .events import Event

        if not callable(callback):
            raise ConfigurationError(f"listener {callback!r} is not callable")
        kinds = tuple(events) if events is not None else (Event,)
        for kind in kinds:
            if not (isinstance(kind, type) and issubclass(kind, Event)):
                raise ConfigurationError(
                    f"events= takes event classes from scheduler.events (e.g. JobFailed), "
                    f"got {kind!r}"
                )
        with self._lock:
            self._listeners = (*self._listeners, (callback, kinds))
            self.listeners = True

    def remove(self, callback: Listener) -> None:
        with self._lock:
            self._listeners = tuple(pair for pair in self._listeners if pair[0] != callback)
            self.listeners = bool(self._listeners)

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, kind: str, **fields: Any) -> None:
        """Build the event ``scheduler.events.<kind>(**fields)`` and hand it to every
        listener that wants it. A listener that raises (anything, ``SystemExit`` included)
        is logged once and otherwise ignored."""
        listeners = self._listeners  # a tuple: safe to read without the lock
        if not listeners:
            return
        from . import events

        event = getattr(events, kind)(**fields)
        for callback, kinds in listeners:
            if not isinstance(event, kinds):
                continue
            try:
                callback(event)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt) and (
                    threading.current_thread() is threading.main_thread()
                ):
                    raise  # Ctrl-C in the main thread is the user's, not a listener error
                key = id(callback)
                if key not in self._reported:
                    self._reported.add(key)
                    safe_log(
                        log,
                        logging.ERROR,
                        "listener %r raised on %s; it stays registered, and further errors "
                        "from it are not logged",
                        callback,
                        kind,
                        exc_info=True,
                        extra={"listener": repr(callback), "event": kind},
                    )
