"""The floor: the least a heap, one ``threading.Event.wait`` and a thread pool can cost.

No validation, no ids, no misfire handling, no events: one tuple per job in a heap, one loop
thread that submits what is due and sleeps until the earliest next one (or until an add
makes something earlier), and a pool of 10 threads like the others.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor


class Adapter:
    name = "floor"
    cancel_is_native = False

    def __init__(self) -> None:
        self._heap: list = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._seq = itertools.count()
        self._pool = ThreadPoolExecutor(10)
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        heap, submit = self._heap, self._pool.submit
        while True:
            # cleared before looking, so an add after this point wakes the wait below
            self._wake.clear()
            with self._lock:
                if self._stopping:
                    return
                now = time.time()
                while heap and heap[0][0] <= now:
                    when, seq, func, arg, every = heapq.heappop(heap)
                    submit(func, arg)
                    if every:
                        heapq.heappush(heap, (when + every, seq, func, arg, every))
                timeout = heap[0][0] - now if heap else None
            self._wake.wait(timeout)

    def _push(self, item: tuple) -> None:
        with self._lock:
            heapq.heappush(self._heap, item)
            earliest = self._heap[0] is item
        if earliest:
            self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def add_once(self, func, at: float, i: int, no_grace_limit: bool = False) -> None:
        self._push((at, next(self._seq), func, i, 0))

    def add_interval(self, func, seconds: float, i: int) -> None:
        self._push((time.time() + seconds, next(self._seq), func, i, seconds))

    def shutdown(self) -> bool:
        with self._lock:
            self._stopping = True
        self._wake.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        return True
