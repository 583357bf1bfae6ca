"""How long the dashboard's pages take to build from a store with many jobs (#13).

::

    python bench/dashboard_pages.py                              # SQLite, 10/100/1000 jobs
    python bench/dashboard_pages.py --store postgresql://localhost/test --jobs 100,1000

Each job gets ``--runs`` finished runs (a third of them failed). The figure is the median
wall time of one request through :class:`scheduler.dashboard.Dashboard` (facts read from the
store through :class:`~scheduler.dashboard.StoreSource`, page rendered), over ``--rounds``
requests; no HTTP server, so it is the dashboard's own cost. The overview reads the last run
of every job with one query per job: that is the term that grows with the job count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scheduler.dashboard import Access, Dashboard, Request, StoreSource
from scheduler.stores import FireKey, JobDefinition, Owner, RunOutcome, Store, from_url


def fill(store: Store, jobs: int, runs: int) -> None:
    owner = Owner.current()
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    for j in range(jobs):
        definition = JobDefinition(
            id=f"job-{j:05d}", name=f"Job {j}", func_ref="bench.jobs:noop",
            trigger={"type": "cron", "expression": f"{j % 60} * * * *", "timezone": "UTC"},
        )
        store.register(definition, owner=owner)
        for r in range(runs):
            fire = FireKey(definition.id, start + timedelta(hours=r, minutes=j % 60))
            claim = store.claim(fire, fingerprint=definition.fingerprint, owner=owner,
                                max_instances=1, lease_seconds=60)
            store.mark_started(claim, attempt=1)
            failed = r % 3 == 0
            store.finish(claim, outcome=RunOutcome.FAILED if failed else RunOutcome.SUCCEEDED,
                         attempt=1, error="ValueError: boom" if failed else None)


def timed(dash: Dashboard, path: str, query: dict[str, str], rounds: int) -> float:
    req = Request(method="GET", path=path, query=query, access=Access(view=True))
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        resp = dash.handle(req)
        times.append(time.perf_counter() - t0)
        assert resp.status == 200, resp.text[:300]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=None, help="store URL (a fresh SQLite file)")
    parser.add_argument("--jobs", default="10,100,1000")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| jobs | overview ms | job page ms | runs page ms | runs?outcome=failed ms |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.jobs.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o700)
            url = args.store or f"sqlite:///{tmp}/bench.db"
            prefix = f"dash{os.getpid()}_{n}_"
            store = from_url(url, prefix=prefix) if args.store else from_url(url)
            store.open()
            try:
                fill(store, n, args.runs)
                dash = Dashboard(StoreSource(store), secret="bench")
                cells = [timed(dash, "/", {}, args.rounds),
                         timed(dash, "/job", {"id": "job-00000"}, args.rounds),
                         timed(dash, "/runs", {}, args.rounds),
                         timed(dash, "/runs", {"outcome": "failed"}, args.rounds)]
                print(f"| {n} | " + " | ".join(f"{c * 1000:.1f}" for c in cells) + " |")
            finally:
                if args.store:
                    for item in store.load_jobs(dynamic_only=False):
                        store.unregister(item.definition.id)
                store.close()


if __name__ == "__main__":
    main()
