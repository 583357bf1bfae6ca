"""The store scenario: claims per second and claim latency, 1 or 4 processes, ours only.

``store-<backend>-<processes>``, backend one of memory, sqlite, postgresql, redis. Each process
registers a job of its own and then, for a fixed time, claims fires of it at increasing
(so distinct) scheduled times, finishing each run as the runner would so leases do not pile
up. Only the ``claim()`` call is timed for latency; throughput counts claims (each followed by
its ``finish()``) over the wall time of the busiest process. Tables and keys carry a random
prefix and are dropped at the end.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _open(backend: str, where: str, prefix: str):
    if backend == "memory":
        from scheduler.stores.memory import MemoryStore

        store = MemoryStore()
    elif backend == "sqlite":
        from scheduler.stores.sqlite import SQLiteStore

        store = SQLiteStore(f"sqlite:///{where}", prefix=prefix)
    elif backend == "postgresql":
        from scheduler.stores.postgresql import PostgreSQLStore

        store = PostgreSQLStore(where, prefix=prefix)
    elif backend == "redis":
        from scheduler.stores.redis import RedisStore

        store = RedisStore(where, prefix=prefix)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    store.open()
    return store


def _claimer(
    backend: str, where: str, prefix: str, worker: int, start_at: float, duration: float
) -> tuple[int, float, list[float]]:
    """One process: claim + finish for ``duration`` seconds from ``start_at``."""
    from scheduler.stores import FireKey, JobDefinition, Owner, RunOutcome

    store = _open(backend, where, prefix)
    owner = Owner.current()
    definition = JobDefinition(
        id=f"bench-{worker}",
        name=f"bench {worker}",
        func_ref="bench.jobs:noop",
        trigger={"type": "interval", "seconds": 1.0},
    )
    store.register(definition, owner=owner)
    fp = definition.fingerprint
    base = datetime(2030, 1, 1, tzinfo=timezone.utc)
    latencies: list[float] = []
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    end = t0 + duration
    k = 0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        k += 1
        fire = FireKey(definition.id, base + timedelta(seconds=k))
        c0 = time.perf_counter()
        claim = store.claim(fire, fingerprint=fp, owner=owner, max_instances=1, lease_seconds=30)
        latencies.append(time.perf_counter() - c0)
        if claim.status.value != "claimed":
            raise RuntimeError(f"claim of a fresh fire returned {claim.status}")
        store.finish(claim, outcome=RunOutcome.SUCCEEDED, attempt=1)
    elapsed = time.perf_counter() - t0
    store.close()
    return k, elapsed, latencies


def run(scenario: str, quick: bool) -> dict:
    _, backend, procs_text = scenario.split("-")
    procs = int(procs_text)
    duration = 1.0 if quick else 2.0
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    tmp = tempfile.mkdtemp(prefix="bench-store-")
    where = {
        "memory": "",
        "sqlite": os.path.join(tmp, "jobs.db"),
        "postgresql": POSTGRES_URL,
        "redis": REDIS_URL,
    }[backend]
    if backend == "memory" and procs != 1:
        raise ValueError("the memory store is one process")
    owner_store = _open(backend, where, prefix)  # creates the schema once, before the race
    try:
        start_at = time.time() + 1.0 + 0.3 * procs
        args = [(backend, where, prefix, w, start_at, duration) for w in range(procs)]
        if procs == 1:
            results = [_claimer(*args[0])]
        else:
            with multiprocessing.get_context("spawn").Pool(procs) as pool:
                results = pool.starmap(_claimer, args)
    finally:
        try:
            if backend == "postgresql":
                owner_store.drop_schema()
            elif backend == "redis":
                owner_store.drop_keys()
        finally:
            owner_store.close()
            shutil.rmtree(tmp, ignore_errors=True)
    claims = sum(r[0] for r in results)
    wall = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    return {
        "claims_per_s": claims / wall,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[max(0, math.ceil(0.99 * len(lat)) - 1)] * 1000,
        "claims": claims,
    }
