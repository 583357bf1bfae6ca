"""Real parts: a ``celery worker --pool=solo`` and an ``rq worker`` subprocess, three beat
replicas sharing a SQLite or PostgreSQL store, Redis as the broker, a task every second.

Each test uses its own key prefix and queue in the shared Redis (never a FLUSHDB), its own
store prefix, and kills every process it started in its teardown.

The checks are equalities: executions = distinct fire keys = succeeded runs, each task id
the uuid5 of its fire key; fires form an unbroken one-second sequence; a replica SIGKILLed
halfway leaves at most its one in-flight fire unfinished (``lost`` once its lease expires),
and nothing doubled.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("celery")
pytest.importorskip("rq")

import redis

from scheduler.contrib._handoff import fire_uuid
from scheduler.stores import RunOutcome, RunRecord, from_url
from tests.services import require, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
RQ = str(Path(PY).with_name("rq"))
HANG_GUARD = 60.0  # seconds; a guard against hangs, never a measurement
RUN_FOR = 20.0  # seconds of beats, one fire a second
APP = "tests.contrib.celery_proj:app"


@dataclass
class Rig:
    prefix: str
    redis_url: str
    client: redis.Redis
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(argv), cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def executed(self) -> list[str]:
        return [v.decode() for v in self.client.lrange(f"{self.prefix}executed", 0, -1)]

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def rig() -> Iterator[Rig]:
    url = require("redis")
    prefix = unique_prefix()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HANDOFF_PREFIX": prefix,
        "HANDOFF_REDIS": url,
        "HANDOFF_EVERY": "1",
    }
    client = redis.Redis.from_url(url)
    rig = Rig(prefix, url, client, env)
    try:
        yield rig
    finally:
        for proc in rig.procs:  # every process this test started, by its own handle
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
        ids = rig.executed()
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        for job_id in ids:  # RQ's per-job keys carry the job id, not our prefix
            keys += list(client.scan_iter(match=f"rq:*{job_id}*", count=1000))
        if keys:
            client.delete(*keys)
        client.srem("rq:queues", f"rq:queue:{prefix}q")
        client.close()


def _store_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'beat.db'}"
    return require("postgresql")


def _runs(url: str, prefix: str, job_id: str) -> list[RunRecord]:
    store = from_url(url, prefix=prefix)
    store.open()
    try:
        return sorted(store.get_runs(job_id, limit=10_000), key=lambda r: r.scheduled_time)
    finally:
        if url.startswith("postgres"):
            store.drop_schema()  # type: ignore[attr-defined]
        store.close()


def _wait_for(predicate: Any) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.2)


def _replicas_with_one_killed(rig: Rig, beat_argv: list[str]) -> int:
    """Three replicas; the first is SIGKILLed halfway, the others SIGTERMed at the end.
    Returns the killed replica's pid."""
    beats = [rig.start(*beat_argv) for _ in range(3)]
    _wait_for(lambda: len(rig.executed()) >= 2)  # the worker is up and fires flow
    time.sleep(RUN_FOR / 2)  # the schedule itself: a fire a second (not a wait for a thread)
    beats[0].send_signal(signal.SIGKILL)
    beats[0].wait(timeout=HANG_GUARD)
    time.sleep(RUN_FOR / 2)
    for beat in beats[1:]:
        rig.stop(beat)
    for beat in beats[1:]:
        err = beat.stderr.read().decode() if beat.stderr else ""
        assert beat.returncode == 0, err[-3000:]
    return beats[0].pid


def _check(runs: list[RunRecord], executed: list[str], job_id: str, killed: int) -> None:
    # One record per fire, and the fires form an unbroken one-second sequence: none lost.
    times = [r.scheduled_time for r in runs]
    assert len(times) == len(set(times))
    assert len(times) >= RUN_FOR - 5  # the beats ran (a sanity floor; equalities follow)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert set(gaps) == {timedelta(seconds=1)}, gaps
    # Every fire succeeded, except at most the one the killed replica held when it died
    # (unfinished until its lease expires, then recorded lost by a peer), and fires skipped
    # by the overlap rule (max_instances=1: on a loaded machine a send can take longer than
    # the second to the next fire). A skipped fire is recorded and never sent.
    skipped = [r for r in runs if r.outcome is RunOutcome.SKIPPED]
    assert all("max_instances" in (r.error or "") for r in skipped), skipped
    unfinished = [
        r for r in runs if r.outcome not in (RunOutcome.SUCCEEDED, RunOutcome.SKIPPED)
    ]
    assert len(unfinished) <= 1, unfinished
    for run in unfinished:
        assert run.outcome in (None, RunOutcome.LOST) and run.pid == killed, run
    succeeded = [r for r in runs if r.outcome is RunOutcome.SUCCEEDED]
    # Each run's result is the task id derived from its fire key...
    assert [r.result for r in succeeded] == [fire_uuid(job_id, r.scheduled_time) for r in succeeded]
    # ...and the worker executed exactly those, each once: runs = distinct fire keys.
    sent = {r.result for r in succeeded}
    extra = set(executed) - sent - {fire_uuid(job_id, r.scheduled_time) for r in unfinished}
    assert len(executed) == len(set(executed)), "a fire was executed twice"
    assert not extra
    assert sent <= set(executed)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_three_celery_beats_send_each_fire_once(rig: Rig, kind: str, tmp_path: Path) -> None:
    url = _store_url(kind, tmp_path)
    rig.start(
        PY, "-m", "celery", "-A", APP, "worker", "--pool=solo", "-Q", f"{rig.prefix}q",
        "-n", f"{rig.prefix}w@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle", "--loglevel=WARNING",
    )
    killed = _replicas_with_one_killed(
        rig,
        [PY, "-m", "scheduler", "celery-beat", APP, "--store", url, "--prefix", rig.prefix,
         "--log-level", "WARNING"],
    )
    runs = _runs(url, rig.prefix, "tick")
    succeeded = {r.result for r in runs if r.outcome is RunOutcome.SUCCEEDED}
    _wait_for(lambda: succeeded <= set(rig.executed()))  # the worker drains the queue
    _check(runs, rig.executed(), "tick", killed)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_three_rq_beats_enqueue_each_fire_once(rig: Rig, kind: str, tmp_path: Path) -> None:
    url = _store_url(kind, tmp_path)
    rig.env["HANDOFF_STORE"] = url
    rig.start(
        RQ, "worker", "--url", rig.redis_url, "--name", f"{rig.prefix}w", "--quiet",
        f"{rig.prefix}q",
    )
    killed = _replicas_with_one_killed(
        rig,
        [PY, "-m", "scheduler", "run", "tests.contrib.celery_proj:rq_scheduler",
         "--log-level", "WARNING"],
    )
    job_id = f"{rig.prefix}tick"
    runs = _runs(url, rig.prefix, job_id)
    succeeded = {r.result for r in runs if r.outcome is RunOutcome.SUCCEEDED}
    _wait_for(lambda: succeeded <= set(rig.executed()))
    _check(runs, rig.executed(), job_id, killed)


@pytest.mark.redis
def test_follow_results_records_the_tasks_outcome(rig: Rig) -> None:
    """One scheduler follows a real worker's results: a task that succeeds, one that
    raises, and one nobody consumes (timed out after the job's timeout)."""
    from datetime import datetime, timezone

    from scheduler import Scheduler
    from scheduler.triggers.once import Once

    rig.start(
        PY, "-m", "celery", "-A", APP, "worker", "--pool=solo", "-Q", f"{rig.prefix}q",
        "-n", f"{rig.prefix}w@%h", "--without-heartbeat", "--without-gossip",
        "--without-mingle", "--loglevel=WARNING",
    )
    from celery import Celery

    app = Celery(f"follow{rig.prefix}", set_as_current=False)
    app.conf.update(
        broker_url=rig.redis_url, result_backend=rig.redis_url,
        broker_transport_options={"global_keyprefix": rig.prefix},
        result_backend_transport_options={"global_keyprefix": rig.prefix},
        task_default_queue=f"{rig.prefix}q",
    )
    soon = Once(datetime.now(timezone.utc) + timedelta(seconds=1))
    sched = Scheduler(shutdown_timeout=5)
    common: dict[str, Any] = {"app": app, "follow_results": True, "timeout": 30}
    sched.add_celery_task("tests.contrib.celery_proj.record", soon, args=["x"], id="ok", **common)
    sched.add_celery_task("tests.contrib.celery_proj.explode", soon, id="bad", **common)
    sched.add_celery_task(
        "tests.contrib.celery_proj.record", soon, args=["y"], id="nobody",
        options={"queue": f"{rig.prefix}unconsumed"}, app=app, follow_results=True, timeout=3,
    )
    with sched:
        _wait_for(lambda: all(sched.get_runs(j) and sched.get_runs(j)[0].outcome
                              for j in ("ok", "bad", "nobody")))
    outcomes = {j: sched.get_runs(j)[0] for j in ("ok", "bad", "nobody")}
    assert outcomes["ok"].outcome is RunOutcome.SUCCEEDED
    assert outcomes["ok"].result == fire_uuid("ok", soon.when)
    assert outcomes["bad"].outcome is RunOutcome.FAILED
    assert "CeleryTaskFailed" in (outcomes["bad"].error or "")
    assert "boom" in (outcomes["bad"].error or "")
    assert outcomes["nobody"].outcome is RunOutcome.TIMED_OUT
