"""A scheduler process for the browser tests: ``python -m tests.browser.worker [--demo]
STORE_URL``.

It registers :func:`tests.browser.dashjobs.add_jobs` (with ``--demo``, the screenshots'
:func:`tests.browser.demo.add_demo_jobs`), starts, prints ``ready`` and runs until
SIGTERM or SIGINT, then shuts down gracefully. The dashboard under test runs in another
process, so what it shows (runs, pauses, requested runs) crosses a process boundary.
"""

from __future__ import annotations

import signal
import sys
import threading

from scheduler import Scheduler
from tests.browser.dashjobs import add_jobs


def main(store_url: str, demo: bool = False) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # A short lease: the heartbeat, which also reads pauses and requested runs from the
    # store, comes every lease / 3 = 2 s instead of 10 s (Django's runscheduler keeps 30 s).
    sched = Scheduler(store=store_url, timezone="Europe/Bratislava", shutdown_timeout=10.0,
                      lease_seconds=6.0)
    if demo:
        from tests.browser.demo import add_demo_jobs

        add_demo_jobs(sched)
    else:
        add_jobs(sched)
    sched.start()
    print("ready", flush=True)
    stop.wait()
    return 0 if sched.shutdown(wait=True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[-1], demo="--demo" in sys.argv[1:-1]))
