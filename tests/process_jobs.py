"""Module-level jobs for the process executor tests (a worker process imports them by name)."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from scheduler import Scheduler, current_job

log = logging.getLogger("tests.process_jobs")


def pid() -> int:
    return os.getpid()


def add(a: int, b: int) -> int:
    return a + b


def spin_first_time(marker: str) -> str:
    """Loop forever, ignoring cancel_event, the first time; return at once afterwards."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        while True:
            pass
    return "second run"


def spin_forever(pidfile: str) -> None:
    Path(pidfile).write_text(str(os.getpid()))
    while True:
        time.sleep(0.01)


def segfault() -> None:
    ctypes.string_at(0)


def exit_3() -> None:
    os._exit(3)


def raise_value_error() -> None:
    raise ValueError("boom in the worker")


def who_am_i(path: str) -> None:
    """Write what current_job() says inside the worker to ``path.started``, wait for
    cancel_event (hang guard 60 s), then write it again to ``path``."""
    run = current_job()
    assert run is not None
    facts = {
        "job_id": run.job_id,
        "scheduled_time": run.scheduled_time.isoformat(),
        "cancelled": run.cancel_event.is_set(),
        "pid": os.getpid(),
    }
    Path(f"{path}.started").write_text(json.dumps(facts))
    facts["cancelled"] = run.cancel_event.wait(60)
    Path(path).write_text(json.dumps(facts))


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("no pickling")

    def __repr__(self) -> str:
        return "<unpicklable result>"


def unpicklable_result() -> object:
    return _Unpicklable()


def log_something(text: str) -> int:
    log.warning("from the worker: %s", text)
    try:
        raise KeyError(text)
    except KeyError:
        log.exception("with a traceback")
    return os.getpid()


def cpu(seconds: float = 1.0) -> int:
    """Busy arithmetic for about ``seconds`` of one core (a bench job)."""
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return n


#: declared at import, as an application declares its jobs: @sched.job(executor="process")
#: registers the function before its name is bound in this module
declared = Scheduler(max_processes=1)


@declared.job("0 0 1 1 *", id="declared", executor="process")
def declared_job() -> int:
    return os.getpid()


class Report:
    def build(self) -> None:
        pass


def start_subprocess_and_spin(pidfile: str) -> None:
    """Start a long ``sleep`` (as a job starts ffmpeg or a shell tool), note both pids, then
    ignore cancel_event."""
    import subprocess

    sleeper = subprocess.Popen(["sleep", "300"])
    Path(pidfile).write_text(json.dumps({"worker": os.getpid(), "sleep": sleeper.pid}))
    while True:
        time.sleep(0.01)


def wait_for_file(path: str) -> int:
    """Return this worker's pid once ``path`` exists (hang guard 60 s)."""
    deadline = time.monotonic() + 60
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return os.getpid()
