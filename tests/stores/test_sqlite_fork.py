"""fork() while another thread is inside a SQLite transaction (gunicorn --preload)."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timezone

import pytest

from scheduler.stores import FireKey, JobDefinition, Owner
from scheduler.stores.sqlite import SQLiteStore

HANG_GUARD = 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_can_write_after_a_fork_during_a_parent_transaction(tmp_path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'jobs.db'}", busy_timeout=1.0)
    store.open()
    definition = JobDefinition(id="j", name="j", func_ref="m:f", trigger={"type": "cron"})
    store.register(definition, owner=Owner.current())
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def writer() -> None:
        with store._transaction(write=True) as cur:
            cur.execute(f"UPDATE {store.prefix}jobs SET registered_by = 'writer'")
            entered.set()
            release.wait(HANG_GUARD)
        finished.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert entered.wait(HANG_GUARD)
    # Registered after the store's hook, so it runs first: the writer is told to finish just
    # as the fork begins. The store must let the fork wait for it, not copy it mid-flight.
    os.register_at_fork(before=release.set)
    pid = os.fork()
    if pid == 0:  # the child: a new connection must be able to write
        code = 1
        try:
            store.after_fork()
            fire = FireKey("j", datetime(2026, 1, 1, tzinfo=timezone.utc))
            claim = store.claim(
                fire,
                fingerprint=definition.fingerprint,
                owner=Owner.current(),
                max_instances=1,
                lease_seconds=30,
            )
            code = 0 if claim.run_id else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    thread.join(HANG_GUARD)
    store.close()
    assert finished.is_set()
    assert os.waitstatus_to_exitcode(status) == 0
