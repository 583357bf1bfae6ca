"""Code that runs in child processes started by the SQL store tests (spawned, so importable)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from scheduler.exceptions import StoreUnavailable
from scheduler.stores import ClaimStatus, FireKey, JobDefinition, Owner, from_url

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
RACE_JOB = JobDefinition(id="race", name="race", func_ref="tasks:race", trigger={"type": "x"})


def open_together(url: str, prefix: str, barrier: Any, queue: Any) -> None:
    """Open a fresh store at the same moment as the siblings, then register and report."""
    try:
        store = from_url(url, prefix=prefix)
        barrier.wait(timeout=60)
        store.open()
        store.register(RACE_JOB, owner=Owner.current())
        queue.put(("ok", store.schema_version()))  # type: ignore[attr-defined]
        store.close()
    except BaseException as exc:  # report, don't hang the parent
        import traceback

        queue.put(("error", repr(exc) + traceback.format_exc()[-1500:]))


def claim_race(url: str, prefix: str, keys: int, barrier: Any, queue: Any) -> None:
    """Claim fires 0..keys-1 of one job in order, as fast as possible; report CLAIMED ones."""
    try:
        store = from_url(url, prefix=prefix)
        store.open()
        owner = Owner.current()
        barrier.wait(timeout=60)
        started = time.perf_counter()
        won = []
        for i in range(keys):
            claim = store.claim(
                FireKey(RACE_JOB.id, T0 + timedelta(minutes=i)),
                fingerprint=RACE_JOB.fingerprint,
                owner=owner,
                max_instances=10**6,
                lease_seconds=3600,
            )
            if claim.status is ClaimStatus.CLAIMED:
                won.append(i)
            elif claim.status is not ClaimStatus.TAKEN:
                raise AssertionError(f"unexpected {claim}")
        queue.put(("ok", won, time.perf_counter() - started))
        store.close()
    except BaseException as exc:
        queue.put(("error", repr(exc), 0.0))


def spawn_all(target: Any, n: int, *args: Any) -> list[tuple[Any, ...]]:
    """Run ``target(*args, barrier, queue)`` in ``n`` spawned processes; their reports."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, queue)) for _ in range(n)]
    for proc in procs:
        proc.start()
    try:
        reports = [queue.get(timeout=120) for _ in procs]  # hang guard, not a measurement
    finally:
        for proc in procs:
            proc.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * n
    return reports


def reap_race(url: str, prefix: str, loops: int, barrier: Any, queue: Any) -> None:
    """Read-then-write paths under contention: claim a fire with an already expired lease,
    reap() every expired run (the siblings' too) and retry_lost() what was reaped, ``loops``
    times. Reports the StoreUnavailable errors seen (a locked database is not an outage)."""
    try:
        store = from_url(url, prefix=prefix)
        store.open()
        owner = Owner.current()
        job = JobDefinition(id=f"reap-{owner.pid}", name="reap", func_ref="tasks:reap", trigger={})
        store.register(job, owner=owner)
        barrier.wait(timeout=60)
        errors: list[str] = []
        reaped = retried = 0
        for i in range(loops):
            try:
                store.claim(
                    FireKey(job.id, T0 + timedelta(minutes=i)),
                    fingerprint=job.fingerprint,
                    owner=owner,
                    max_instances=10**6,
                    lease_seconds=0,
                )
                for lost in store.reap():
                    reaped += 1
                    if store.retry_lost(lost.run_id, owner=owner, lease_seconds=0) is not None:
                        retried += 1
            except StoreUnavailable as exc:
                errors.append(str(exc))
        queue.put(("ok", errors, reaped, retried))
        store.close()
    except BaseException as exc:
        queue.put(("error", repr(exc), 0, 0))
