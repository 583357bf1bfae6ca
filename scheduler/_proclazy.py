"""The worker processes of one scheduler, made on first use (see :mod:`scheduler._procpool`).

Apart from it so that ``import scheduler`` does not import the process pool (pickle, signal,
``logging.handlers``, the child's module): a scheduler without ``executor="process"`` jobs
never does.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._procpool import ProcessPool

__all__ = ["LazyProcessPool"]


class LazyProcessPool:
    """The worker processes of one scheduler, made on first use: a scheduler without
    ``executor="process"`` jobs starts none. ``_pool`` is created under ``_lock`` (a leaf);
    after that it is only read."""

    def __init__(self, max_processes: int, max_runs: int | None, run_context: Any) -> None:
        self._args = (max_processes, max_runs, run_context)
        self._lock = threading.Lock()
        self._pool: ProcessPool | None = None  # Invariant: set once, under _lock

    @property
    def started(self) -> bool:
        return self._pool is not None

    def get(self) -> ProcessPool:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    from ._procpool import ProcessPool  # pickle, logging.handlers: on use

                    self._pool = ProcessPool(*self._args)
                pool = self._pool
        return pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def forget(self) -> None:
        """In a forked child: the parent's workers stay the parent's."""
        if self._pool is not None:
            self._pool.forget()
            self._pool = None
