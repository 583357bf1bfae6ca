"""A scheduler in its own process, driven by a JSON spec (``python -m tests.reliability.worker``).

Spec keys: ``url`` and ``prefix`` (the store), ``jobs`` (``id``, ``func`` as
``module:qualname``, ``trigger`` as ``{"interval": s}`` / ``{"cron": text}`` /
``{"once_in": s}``, ``args``, ``options``), ``lease``, ``tick``, ``shutdown_timeout``,
``sample`` (a file for RSS and thread-count samples), ``workers``,
``duration`` (stop by itself after so many seconds; default: run until SIGTERM), ``go``
(a file to wait for before starting: a barrier across processes), ``fault`` (``stall_start``:
the first run to reach ``mark_started`` in any process hangs there, after its claim;
``stall_claim``: the first claim hangs inside its open transaction; ``marker`` names the
file that picks the one), and ``fork`` (fork after start; the child runs the same jobs).

Prints ``ready``, ``started <pid>`` and ``stopped clean=<bool>`` (and ``forked <pid>``) on
stdout; logs to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from scheduler import Interval, Once, Scheduler
from scheduler._refs import resolve
from scheduler.stores import from_url


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def trigger(spec: dict[str, Any]) -> Any:
    if "interval" in spec:
        return Interval(seconds=spec["interval"])
    if "cron" in spec:
        return spec["cron"]
    return Once(datetime.now(timezone.utc) + timedelta(seconds=spec["once_in"]))


def _first(marker: str) -> bool:
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    return True


def _hang() -> None:
    while True:
        time.sleep(3600)


def inject(store: Any, fault: str, marker: str) -> None:
    """Patch this process's store object (never the library) to stall at one point."""
    if fault == "stall_start":
        original = store.mark_started

        def mark_started(claim: Any, *, attempt: int) -> bool:
            if _first(marker):
                _hang()  # claimed, lease taken, never started
            return bool(original(claim, attempt=attempt))

        store.mark_started = mark_started
    elif fault == "stall_claim":
        claiming = threading.local()
        original_claim = store.claim
        original_tx = store._transaction

        def claim(*args: Any, **kwargs: Any) -> Any:
            claiming.on = True
            try:
                return original_claim(*args, **kwargs)
            finally:
                claiming.on = False

        @contextmanager
        def transaction(write: bool) -> Any:
            with original_tx(write) as cur:
                yield cur
                if getattr(claiming, "on", False) and _first(marker):
                    _hang()  # inside the claim's transaction, before COMMIT

        store.claim = claim
        store._transaction = transaction


def sample(path: str, every: float, sched: Scheduler) -> None:
    """Append ``monotonic rss_kib threads`` lines to ``path`` (for the soak's flat checks)
    while ``sched`` runs: once its shutdown has begun, its threads end by design, and a
    sample taken then (under load the exit can take a second) measured the exit, not a
    leak."""

    def rss() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def loop() -> None:
        while sched.state == "running":
            with open(path, "a") as file:
                file.write(f"{time.monotonic():.3f} {rss()} {threading.active_count()}\n")
            time.sleep(every)

    threading.Thread(target=loop, name="sampler", daemon=True).start()


def main() -> int:
    spec = json.loads(sys.argv[1])
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    store = from_url(spec["url"], prefix=spec["prefix"])
    if spec.get("fault"):
        inject(store, spec["fault"], spec["marker"])
    sched = Scheduler(
        store=store,
        lease_seconds=spec.get("lease", 1.0),
        tick=spec.get("tick", 0.2),
        shutdown_timeout=spec.get("shutdown_timeout", 5.0),
        max_workers=spec.get("workers", 4),
    )
    for job in spec["jobs"]:
        sched.add_job(
            resolve(job["func"]),
            trigger(job["trigger"]),
            id=job["id"],
            args=job.get("args", []),
            **job.get("options", {}),
        )
    say("ready")
    go = spec.get("go")
    if go:
        deadline = time.monotonic() + 30
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.001)
    sched.start()
    say(f"started {os.getpid()}")
    if spec.get("sample"):
        sample(spec["sample"], spec.get("sample_every", 2.0), sched)
    if spec.get("fork"):
        pid = os.fork()
        if pid == 0:  # the child: the scheduler restarted itself after the fork
            say(f"forked {os.getpid()} state={sched.state}")
            if spec.get("duration"):
                threading.Timer(spec["duration"], sched.shutdown).start()
            clean = sched.run_forever()
            say(f"child stopped clean={clean}")
            os._exit(0)
        say(f"parent-of {pid}")
    if spec.get("duration"):
        threading.Timer(spec["duration"], sched.shutdown).start()
    clean = sched.run_forever()
    if spec.get("fork"):
        os.waitpid(pid, 0)
    say(f"stopped clean={clean}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
