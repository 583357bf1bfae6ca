"""run_job() runs take part in shutdown; VirtualClock.advance(scheduler=) keeps leases alive."""

from __future__ import annotations

import threading

from scheduler import Scheduler, current_job
from scheduler.events import JobLost, JobSkipped
from scheduler.stores import RunOutcome
from scheduler.testing import VirtualClock

HANG_GUARD = 10


def test_shutdown_cancels_and_waits_for_a_run_job_run() -> None:
    started = threading.Event()
    seen_cancel = threading.Event()

    def polite() -> str:
        started.set()
        run = current_job()
        assert run is not None
        if run.cancel_event.wait(HANG_GUARD):
            seen_cancel.set()
        return "stopped"

    sched = Scheduler()
    sched.add_job(polite, "0 0 1 1 *", id="manual")
    sched.start()
    future = sched.run_job("manual")
    assert started.wait(HANG_GUARD)
    assert sched.shutdown(timeout=HANG_GUARD) is True
    assert seen_cancel.is_set()
    assert future.result(timeout=HANG_GUARD) == "stopped"


def test_advancing_with_the_scheduler_renews_leases_of_running_jobs() -> None:
    """Two minutes pass while a job runs: its 30 s lease is renewed on the way, so it is not
    declared lost and the next fire is skipped (max_instances=1), as in real time."""
    clock = VirtualClock("2026-05-01T00:00:00+00:00")
    sched = Scheduler(clock=clock, lease_seconds=30)
    release = threading.Event()
    started = threading.Event()
    lost: list[JobLost] = []
    skipped: list[JobSkipped] = []
    sched.add_listener(lost.append, events=[JobLost])
    sched.add_listener(skipped.append, events=[JobSkipped])

    def long_job() -> None:
        started.set()
        release.wait(HANG_GUARD)

    sched.add_job(long_job, "* * * * *", id="long")
    with sched:
        clock.advance(minutes=1)  # the first fire comes due; the job starts and blocks
        sched._ticker.wake()
        assert started.wait(HANG_GUARD)
        clock.advance(minutes=1, scheduler=sched, wait=False)
        running = [r for r in sched.get_runs("long") if r.outcome is None]
        assert len(running) == 1
        assert running[0].lease_expires is not None
        assert running[0].lease_expires > clock.now()  # renewed on the way, as in real time
        release.set()
    assert lost == []
    assert len(skipped) == 1
    outcomes = sorted(r.outcome for r in sched.get_runs("long"))
    assert outcomes == [RunOutcome.SKIPPED, RunOutcome.SUCCEEDED]


def test_call_job_runs_in_this_thread_on_a_stopped_scheduler_with_its_context() -> None:
    entered: list[str] = []

    class Wrap:
        def __init__(self, job) -> None:  # type: ignore[no-untyped-def]
            self.job = job

        def __enter__(self) -> None:
            entered.append(self.job.id)

        def __exit__(self, *exc: object) -> None:
            entered.append("exit")

    def whoami() -> tuple[str, str]:
        run = current_job()
        assert run is not None
        return run.job_id, threading.current_thread().name

    sched = Scheduler(run_context=Wrap)
    sched.add_job(whoami, "0 3 * * *", id="who")
    assert sched.call_job("who") == ("who", threading.current_thread().name)
    assert entered == ["who", "exit"]
    assert sched.state == "stopped"  # nothing was started, nothing else ran
