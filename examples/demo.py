"""A scheduler with a few jobs, logging one structured line per event. Ctrl-C stops it.

Run it with ``scripts/demo`` (which installs the package into ``.venv`` first), or
``python examples/demo.py --seconds 15`` to stop by itself.
"""

from __future__ import annotations

import argparse
import logging
import random
import threading
from datetime import datetime, timedelta, timezone

from scheduler import Cron, Interval, Once, Scheduler, current_job

# The facts every log record of the scheduler carries as `extra` fields.
FIELDS = ("job_id", "attempt", "outcome", "duration", "cancel_requested", "error")


class KeyValueFormatter(logging.Formatter):
    """``12:00:05 INFO  job tick succeeded in 0.1 ms: ... | job_id=tick outcome=...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        facts = " ".join(
            f"{name}={getattr(record, name)}" for name in FIELDS if hasattr(record, name)
        )
        return f"{line} | {facts}" if facts else line


def tick() -> str:
    return f"tick at {datetime.now(timezone.utc):%H:%M:%S}"


def flaky() -> None:
    if random.random() < 0.5:
        raise RuntimeError("upstream returned 503")


def work_in_steps(steps: int) -> int:
    """Works ``steps`` tenths of a second and stops early when asked (shutdown or timeout):
    a run that stops early is recorded with ``cancel_requested``."""
    run = current_job()
    assert run is not None
    for step in range(steps):
        if run.cancel_event.wait(0.1):
            return step
    return steps


def export() -> int:
    return work_in_steps(10)  # 1 s of work, well inside its 3 s timeout


def overrun() -> int:
    return work_in_steps(40)  # 4 s of work against a 1 s timeout: times out, on purpose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    args = parser.parse_args()

    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)-5s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])

    sched = Scheduler(timezone="Europe/Bratislava", max_workers=4, shutdown_timeout=5)
    sched.add_job(tick, Interval(seconds=2), id="tick")
    sched.add_job(flaky, Cron("*/3 * * * * *"), id="flaky", retries=1)  # every 3 s
    sched.add_job(export, Interval(seconds=5), id="export", timeout=3)
    # The one run that times out, on purpose: its cancel_event is set after 1 s, it stops
    # early, and it is recorded as timed_out with cancel_requested.
    sched.add_job(overrun, Once(datetime.now(timezone.utc) + timedelta(seconds=2)),
                  id="overrun", timeout=1)  # fmt: skip
    sched.add_job(
        print,
        Once(datetime.now(timezone.utc) + timedelta(seconds=4)),
        id="hello",
        args=("hello from a one-off job",),
    )
    sched.every().day.at("03:00").do(tick)  # shows in the listing below; fires at 03:00

    for job in sched.get_jobs():
        nxt = job.next_run_time
        when = f"{nxt:%Y-%m-%d %H:%M:%S%z}" if nxt else "-"
        print(f"{job.id:>24}  next {when}  {job.trigger.describe()}")

    if args.seconds is not None:
        threading.Timer(args.seconds, sched.shutdown).start()
    clean = sched.run_forever()  # Ctrl-C / SIGTERM -> graceful shutdown
    print("shut down cleanly" if clean else "shut down; some jobs were still running")


if __name__ == "__main__":
    main()
