"""Baseline for issue 14: how many sends two plain ``celery beat`` processes double, next to
two ``scheduler celery-beat`` replicas sharing a SQLite store, in the same set-up.

::

    .venv/bin/python bench/celery_beat_doubles.py [--seconds 30]

Set-up: Redis as broker (``BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``, under a
random key prefix and queue that are deleted at the end; nothing else is touched), one
``celery worker --pool=solo``, the app of ``tests/contrib/celery_proj.py`` with one entry
firing every second. The task records its task id and its sender's ``origin`` (pid@host).

A plain beat's fires carry random task ids, so its doubles are counted per sender: each beat
sends every fire, and ``doubled = executions - the busiest sender's executions``. Our
replicas' task ids are derived from the fire key, so theirs are ``executions - distinct ids``.
Needs the ``celery`` extra (``pip install -e '.[celery]'``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
APP = "tests.contrib.celery_proj:app"


def measure(kind: str, seconds: float, tmp: Path) -> dict[str, int]:
    import redis

    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HANDOFF_PREFIX": prefix,
           "HANDOFF_REDIS": REDIS_URL, "HANDOFF_EVERY": "1"}
    py = sys.executable
    worker = [py, "-m", "celery", "-A", APP, "worker", "--pool=solo", "-Q", f"{prefix}q",
              "-n", f"{prefix}w@%h", "--without-heartbeat", "--without-gossip",
              "--without-mingle", "--loglevel=WARNING"]
    if kind == "celery beat":
        beats = [[py, "-m", "celery", "-A", APP, "beat", "-s", str(tmp / f"{prefix}{i}"),
                  "--loglevel=WARNING"] for i in range(2)]
    else:
        store = f"sqlite:///{tmp / (prefix + '.db')}"
        beats = [[py, "-m", "scheduler", "celery-beat", APP, "--store", store,
                  "--log-level", "WARNING"]] * 2
    client = redis.Redis.from_url(REDIS_URL)
    procs = []
    try:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        procs.append(subprocess.Popen(worker, cwd=ROOT, env=env, **quiet))
        time.sleep(3)  # let the worker come up, so the beats' first fires are consumed
        for argv in beats:
            procs.append(subprocess.Popen(argv, cwd=ROOT, env=env, **quiet))
        time.sleep(seconds)
        for proc in procs[1:]:
            proc.send_signal(signal.SIGTERM)
        for proc in procs[1:]:
            proc.wait(timeout=60)
        time.sleep(3)  # the worker drains the queue
        ids = [v.decode() for v in client.lrange(f"{prefix}executed", 0, -1)]
        origins = Counter(v.decode() for v in client.lrange(f"{prefix}origins", 0, -1))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    if kind == "celery beat":
        doubled = len(ids) - max(origins.values(), default=0)
    else:
        doubled = len(ids) - len(set(ids))
    return {"executions": len(ids), "senders": len(origins), "doubled": doubled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("celery beat", "scheduler celery-beat"):
            got = measure(kind, args.seconds, Path(tmp))
            print(
                f"2 x {kind:<22} {args.seconds:.0f} s, 1 fire/s: {got['executions']} executions "
                f"from {got['senders']} senders, {got['doubled']} doubled"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
