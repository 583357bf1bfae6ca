"""The store scenarios (scenario 7), ours only. Three kinds, all named ``store-...``:

``store-<backend>-<processes>`` (backend memory, sqlite, postgresql, redis): each process
registers a job of its own and then, for a fixed time, settles fires of it at increasing (so
distinct) scheduled times as the runner does: ``claim()``, ``mark_started()``, ``finish()``.
Only the ``claim()`` call is timed for latency; throughput counts fires (each one claim, one
start, one finish) over the wall time of the busiest process.

``store-<backend>-3shared`` (sqlite, postgresql, redis): three processes share one store and
the same 10 jobs, as three instances of one app do. Each walks the fires in time order and
claims every one; the store gives each fire to one of them (the others get TAKEN), and the
winner starts and finishes it (``max_instances`` is high: fires come back to back here, and
a run still live when the next fire of its job is claimed would make that fire SKIPPED).
Throughput is fires settled per second, all processes together; ``exactly_once`` checks
that every fire up to the last one all three reached was claimed by exactly one process and
recorded as one succeeded run.

``store-<backend>-10k`` (sqlite, postgresql): a ``Scheduler`` on the store with 10,000
interval jobs (hourly, so none is due): ``start()`` time (each job registered against the
store), the same again on a second start against the rows the first one left (every deploy
does that), and the CPU the started scheduler burns while idle.

Tables and keys carry a random prefix and are dropped at the end.
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

#: the shared scenario's jobs (fires are walked job by job within each instant)
SHARED_JOBS = 10


def _store(backend: str, where: str, prefix: str, **options):
    if backend == "memory":
        from scheduler.stores.memory import MemoryStore

        return MemoryStore()
    if backend == "sqlite":
        from scheduler.stores.sqlite import SQLiteStore

        return SQLiteStore(f"sqlite:///{where}", prefix=prefix, **options)
    if backend == "postgresql":
        from scheduler.stores.postgresql import PostgreSQLStore

        return PostgreSQLStore(where, prefix=prefix, **options)
    if backend == "redis":
        from scheduler.stores.redis import RedisStore

        return RedisStore(where, prefix=prefix, **options)
    raise ValueError(f"unknown backend {backend!r}")


def _open(backend: str, where: str, prefix: str, **options):
    store = _store(backend, where, prefix, **options)
    store.open()
    return store


def _definition(job_id: str):
    from scheduler.stores import JobDefinition

    return JobDefinition(
        id=job_id,
        name=job_id,
        func_ref="bench.jobs:noop",
        trigger={"type": "interval", "seconds": 1.0},
    )


BASE = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _claimer(
    backend: str, where: str, prefix: str, worker: int, start_at: float, duration: float
) -> tuple[int, float, list[float]]:
    """One process, a job of its own: claim + start + finish for ``duration`` seconds."""
    from scheduler.stores import FireKey, Owner, RunOutcome

    store = _open(backend, where, prefix)
    owner = Owner.current()
    definition = _definition(f"bench-{worker}")
    store.register(definition, owner=owner)
    fp = definition.fingerprint
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
        fire = FireKey(definition.id, BASE + timedelta(seconds=k))
        c0 = time.perf_counter()
        claim = store.claim(fire, fingerprint=fp, owner=owner, max_instances=1, lease_seconds=30)
        latencies.append(time.perf_counter() - c0)
        if claim.status.value != "claimed":
            raise RuntimeError(f"claim of a fresh fire returned {claim.status}")
        if not store.mark_started(claim, attempt=1):
            raise RuntimeError("mark_started of a fresh claim was fenced off")
        store.finish(claim, outcome=RunOutcome.SUCCEEDED, attempt=1)
    elapsed = time.perf_counter() - t0
    store.close()
    return k, elapsed, latencies


def _sharer(
    backend: str, where: str, prefix: str, start_at: float, duration: float
) -> tuple[list[tuple[int, int]], int, int, float]:
    """One of three instances: walk fires (instant k, job j) in order and claim each.
    Returns the fires this process won, the last instant it finished walking, its claim
    calls and its wall time."""
    from scheduler.stores import FireKey, Owner, RunOutcome

    store = _open(backend, where, prefix, history_limit=None)  # all runs kept for the check
    owner = Owner.current()
    definitions = [_definition(f"shared-{j}") for j in range(SHARED_JOBS)]
    for definition in definitions:
        store.register(definition, owner=owner)
    won: list[tuple[int, int]] = []
    calls = 0
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    end = t0 + duration
    k = 0
    while time.perf_counter() < end:
        k += 1
        for j, definition in enumerate(definitions):
            fire = FireKey(definition.id, BASE + timedelta(seconds=k))
            claim = store.claim(
                fire,
                fingerprint=definition.fingerprint,
                owner=owner,
                max_instances=SHARED_JOBS * 100,  # fires back to back: none is skipped
                lease_seconds=30,
            )
            calls += 1
            if claim.status.value == "claimed":
                won.append((k, j))
                if not store.mark_started(claim, attempt=1):
                    raise RuntimeError("mark_started of a fresh claim was fenced off")
                store.finish(claim, outcome=RunOutcome.SUCCEEDED, attempt=1)
            elif claim.status.value != "taken":
                raise RuntimeError(f"claim returned {claim.status}")
    elapsed = time.perf_counter() - t0
    store.close()
    return won, k, calls, elapsed


def _exactly_once(store, results: list, jobs: int) -> bool:
    """Every fire up to the last instant all processes walked through was won by exactly one
    of them, and the store holds exactly one succeeded run for each fire anyone won."""
    covered = min(r[1] for r in results)
    wins = [fire for r in results for fire in r[0]]
    if len(wins) != len(set(wins)):
        return False  # a fire won twice
    won = set(wins)
    if any((k, j) not in won for k in range(1, covered + 1) for j in range(jobs)):
        return False  # a fire nobody won
    seen: set[tuple[int, int]] = set()
    for j in range(jobs):
        for run in store.get_runs(f"shared-{j}", limit=len(wins) + 10):
            k = round((run.scheduled_time - BASE).total_seconds())
            if (k, j) in seen or str(run.outcome) != "succeeded":
                return False
            seen.add((k, j))
    return seen == won


def _where(backend: str, tmp: str) -> str:
    return {
        "memory": "",
        "sqlite": os.path.join(tmp, "jobs.db"),
        "postgresql": POSTGRES_URL,
        "redis": REDIS_URL,
    }[backend]


def _drop(backend: str, store) -> None:
    try:
        if backend == "postgresql":
            store.drop_schema()
        elif backend == "redis":
            store.drop_keys()
    finally:
        store.close()


def run(scenario: str, quick: bool) -> dict:
    _, backend, kind = scenario.split("-")
    if kind == "10k":
        return startup(backend, quick)
    duration = 1.0 if quick else 2.0
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    tmp = tempfile.mkdtemp(prefix="bench-store-")
    where = _where(backend, tmp)
    shared = kind == "3shared"
    procs = 3 if shared else int(kind)
    if backend == "memory" and procs != 1:
        raise ValueError("the memory store is one process")
    owner_store = _open(backend, where, prefix)  # creates the schema once, before the race
    try:
        start_at = time.time() + 1.0 + 0.3 * procs
        if shared:
            args: list[tuple] = [(backend, where, prefix, start_at, duration)] * procs
            with multiprocessing.get_context("spawn").Pool(procs) as pool:
                shares = pool.starmap(_sharer, args)
            ok = _exactly_once(owner_store, shares, SHARED_JOBS)
        else:
            args = [(backend, where, prefix, w, start_at, duration) for w in range(procs)]
            if procs == 1:
                results = [_claimer(*args[0])]
            else:
                with multiprocessing.get_context("spawn").Pool(procs) as pool:
                    results = pool.starmap(_claimer, args)
    finally:
        try:
            _drop(backend, owner_store)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if shared:
        wall = max(r[3] for r in shares)
        fires = sum(len(r[0]) for r in shares)
        return {
            "fires_per_s": fires / wall,
            "claim_calls_per_s": sum(r[2] for r in shares) / wall,
            "fires": fires,
            "won_min_share": min(len(r[0]) for r in shares) / max(fires, 1),
            "exactly_once": ok,
        }
    claims = sum(r[0] for r in results)
    wall = max(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    return {
        "claims_per_s": claims / wall,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[max(0, math.ceil(0.99 * len(lat)) - 1)] * 1000,
        "claims": claims,
    }


def startup(backend: str, quick: bool) -> dict:
    """10,000 hourly interval jobs on a Scheduler with a durable store: the first start()
    (every job inserted), a second start() on a new Scheduler against those rows, and the
    idle CPU of the started scheduler."""
    from scheduler import Interval, Scheduler

    from . import jobs
    from .worker import cpu_seconds

    n = 2000 if quick else 10_000
    window = 3.0 if quick else 10.0
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    tmp = tempfile.mkdtemp(prefix="bench-store-")
    where = _where(backend, tmp)

    def started() -> tuple[Scheduler, float]:
        sched = Scheduler(timezone="UTC", store=_store(backend, where, prefix))
        for i in range(n):
            sched.add_job(jobs.noop, Interval(hours=1), id=f"every-{i}")
        t0 = time.perf_counter()
        sched.start()
        return sched, time.perf_counter() - t0

    try:
        first, first_s = started()
        first.shutdown(wait=True)
        sched, again_s = started()
        time.sleep(0.5)
        cpu0, w0 = cpu_seconds(), time.perf_counter()
        time.sleep(window)
        cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - w0
        sched.shutdown(wait=True)
    finally:
        try:
            _drop(backend, _store(backend, where, prefix))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {
        "start_s": first_s,
        "restart_s": again_s,
        "idle_cpu_pct": cpu / wall * 100,
        "jobs": n,
    }
