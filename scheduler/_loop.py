"""What the ticker and the heartbeat share: one daemon thread looping until stopped.

The thread waits on ``_wake`` (set to wake it early, and by :meth:`LoopThread.stop`) and
counts its completed passes in ``passes`` under the ``_passed`` condition, so that
:mod:`scheduler.testing` can wait for a pass that began after it moved the clock. The wake
event may be handed in, so that other pieces can wake the thread without a reference to it.
``_passed`` is a leaf lock: held only to count and to wait.
"""

from __future__ import annotations

import threading
import time

__all__ = ["LoopThread"]


class LoopThread:
    name = "scheduler-loop"

    def __init__(self, wake: threading.Event | None = None) -> None:
        self._wake = wake if wake is not None else threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0  # Invariant: written by the loop thread under _passed
        self._passed = threading.Condition()

    def _loop(self) -> None:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _count_pass(self) -> None:
        with self._passed:
            self.passes += 1
            self._passed.notify_all()

    def wait_for_fresh_pass(self, deadline: float) -> None:
        """Block until a pass that *began* after this call has completed (two completions:
        the first may have been under way already). ``deadline`` is on ``time.monotonic``.

        :raises TimeoutError: not by the deadline
        """
        for _ in range(2):
            with self._passed:
                seen = self.passes
            self.wake()
            with self._passed:
                while self.passes <= seen and self.alive:
                    if not self._passed.wait(max(0.0, deadline - time.monotonic())):
                        raise TimeoutError(f"{self.name} did not complete a pass in time")
