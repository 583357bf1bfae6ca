"""What the heartbeat's control look costs (issue 12): one read of the paused job ids and one
of the queued requests per instance, every third of the lease.

    python bench/control_poll.py                    # SQLite, and PostgreSQL/Redis if reachable
    python bench/control_poll.py --jobs 10000 --rounds 500

Prints, per store, the median time of one look (``paused_ids()`` then ``queued_runs(100)``)
with ``--jobs`` jobs registered (1 % paused, no request queued: the steady state), and how
many ``request_run`` calls per second one process makes. Then, on SQLite, how long a run asked
for by a scheduler that never started waits for a running one (``lease_seconds=3``: one
heartbeat is 1 s): from ``request_run`` to the run's start. The PostgreSQL and Redis URLs come
from ``SCHEDULER_TEST_POSTGRES_URL`` / ``SCHEDULER_TEST_REDIS_URL`` (defaults: the local servers).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid

from scheduler.stores import JobDefinition, Owner, Store, from_url


def definition(i: int) -> JobDefinition:
    return JobDefinition(id=f"job{i}", name=f"job{i}", func_ref="bench.jobs:noop",
                         trigger={"type": "cron", "expr": "0 3 * * *"})  # fmt: skip


def measure(name: str, store: Store, jobs: int, rounds: int) -> None:
    store.open()
    owner = Owner.current()
    for i in range(jobs):
        store.register(definition(i), owner=owner)
    for i in range(0, jobs, 100):
        store.set_paused(f"job{i}", True)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        store.paused_ids()
        store.queued_runs(100)
        times.append(time.perf_counter() - began)
    began = time.perf_counter()
    n = 200
    for i in range(n):
        store.request_run(f"job{i % jobs}", requested_by="bench")
    rate = n / (time.perf_counter() - began)
    print(f"{name:<11} jobs={jobs:<6} look: median {statistics.median(times) * 1e3:.3f} ms, "
          f"p95 {sorted(times)[int(rounds * 0.95)] * 1e3:.3f} ms; "
          f"request_run: {rate:,.0f}/s")  # fmt: skip


def noop() -> None:
    pass


def request_latency(tmp: str, n: int = 20) -> None:
    from scheduler import Scheduler

    url = f"sqlite:///{tmp}/latency.db"
    running = Scheduler(store=url, lease_seconds=3.0)
    running.add_job(noop, "0 0 1 1 *", id="noop")
    shell = Scheduler(store=url, lease_seconds=3.0)  # never started
    waits = []
    with running:
        for _ in range(n):
            began = time.perf_counter()
            key = shell.request_run("noop")
            while (run := running.store.get_run(key)) is None or run.started_at is None:
                time.sleep(0.005)
            waits.append(time.perf_counter() - began)
            time.sleep(random.uniform(0, 1))  # at any point of the heartbeat's cycle
    shell.shutdown()
    print(f"request_run -> started (SQLite, heartbeat 1 s, {n} requests): median "
          f"{statistics.median(waits):.2f} s, max {max(waits):.2f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    with tempfile.TemporaryDirectory() as tmp:
        measure("memory", from_url("memory"), args.jobs, args.rounds)
        measure("sqlite", from_url(f"sqlite:///{tmp}/b.db"), args.jobs, args.rounds)
        request_latency(tmp)
    pg = os.environ.get("SCHEDULER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis = os.environ.get("SCHEDULER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    for name, url, opts in [("postgresql", pg, {"prefix": prefix}),
                            ("redis", redis, {"prefix": prefix.replace("_", ":")})]:  # fmt: skip
        try:
            store = from_url(url, **opts)
            measure(name, store, args.jobs, args.rounds)
        except Exception as exc:  # not reachable here: say so, go on
            print(f"{name:<11} skipped: {exc}")
            continue
        finally:
            cleanup = getattr(store, "drop_schema", None) or getattr(store, "drop_keys", None)
            if cleanup is not None:
                cleanup()
            store.close()


if __name__ == "__main__":
    main()
