"""A forked child whose scheduler cannot start again says why (#11).

The child of a process running the scheduler with a shared store restarts it (threads do
not survive ``fork()``). When that restart fails, the child runs no jobs: it used to do so
silently (a broad ``except`` swallowed the error); now it is logged at ERROR with its cause.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from scheduler import Scheduler
from scheduler.exceptions import StoreUnavailable
from scheduler.stores.sqlite import SQLiteStore

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork()"
)


class GoneInTheChild(SQLiteStore):
    """A shared store that cannot be opened again in a forked child."""

    forked = False

    def after_fork(self) -> None:
        super().after_fork()
        self.forked = True

    def open(self) -> None:
        if self.forked:
            raise StoreUnavailable("the child cannot reach the store")
        super().open()


def noop() -> None:
    pass


def test_a_failed_restart_after_fork_is_logged_with_its_cause(tmp_path: Path) -> None:
    log_file = tmp_path / "child.log"
    handler = logging.FileHandler(log_file)
    logger = logging.getLogger("scheduler")
    logger.addHandler(handler)
    sched = Scheduler(store=GoneInTheChild(f"sqlite:///{tmp_path}/jobs.db"))
    sched.add_job(noop, "0 0 1 1 *", id="yearly")
    try:
        sched.start()
        pid = os.fork()
        if pid == 0:  # the fork hooks have run: the child tried to start again
            handler.flush()
            os._exit(0 if sched.state == "stopped" else 3)
        _, status = os.waitpid(pid, 0)
    finally:
        sched.shutdown(timeout=1)
        logger.removeHandler(handler)
        handler.close()
    assert os.waitstatus_to_exitcode(status) == 0  # and it can be started again by hand
    text = log_file.read_text()
    assert "could not start again" in text
    assert "the child cannot reach the store" in text
