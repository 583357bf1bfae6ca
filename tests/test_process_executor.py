"""``executor="process"``: a job in a worker process, with timeouts that really stop it.

Checked by recorded outcomes and the process table, never by how long things took; every
wait is on an event or an outcome, with a generous hang guard.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from scheduler import Interval, Once, Scheduler
from scheduler.events import JobFailed, JobSucceeded
from scheduler.exceptions import ConfigurationError, InvalidJob, ProcessDied
from scheduler.stores import RunOutcome, RunRecord
from scheduler.testing import VirtualClock, settle
from tests import process_jobs as jobs

GUARD = 60.0  # seconds: a hang guard, not an expectation


# -- the process table ---------------------------------------------------------------------
def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                parents[int(entry)] = parent
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid for pid in found if _alive(pid)}


def _multiprocessing_helpers() -> set[int]:
    """The forkserver and resource tracker multiprocessing keeps for the whole process
    (they run no job): every other descendant of this process is a worker."""
    helpers = set()
    for pid in _descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if _parent_of(pid) == os.getpid() and (
            b"forkserver" in cmdline or b"resource_tracker" in cmdline
        ):
            helpers.add(pid)
    return helpers


def _workers() -> set[int]:
    return _descendants(os.getpid()) - _multiprocessing_helpers()


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture
def sched() -> Iterator[Scheduler]:
    s = Scheduler(max_processes=2)
    yield s
    s.shutdown(timeout=10)


def _wait_for(events: list[Any], kind: type, count: int = 1) -> None:
    deadline = time.monotonic() + GUARD
    while sum(isinstance(e, kind) for e in events) < count:
        assert time.monotonic() < deadline, f"no {kind.__name__} after {GUARD}s: {events}"
        time.sleep(0.01)


def _wait_for_file(path: Path) -> str:
    deadline = time.monotonic() + GUARD
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)
    return path.read_text()


def _soon() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=0.3)


def _runs(s: Scheduler, job_id: str) -> list[RunRecord]:
    return sorted(s.get_runs(job_id, limit=100), key=lambda r: r.scheduled_time)


# -- timeouts and shutdown -------------------------------------------------------------------
@needs_proc
def test_timeout_kills_a_job_that_ignores_cancel_and_the_next_fire_runs(
    sched: Scheduler, tmp_path: Path
) -> None:
    marker = tmp_path / "spinning"
    events: list[Any] = []
    sched.add_listener(events.append)
    sched.add_job(jobs.spin_first_time, Interval(seconds=1), args=[str(marker)],
                  executor="process", timeout=1, timeout_grace=1)  # fmt: skip
    sched.start()
    _wait_for(events, JobSucceeded)
    runs = [r for r in _runs(sched, "tests.process_jobs:spin_first_time") if r.outcome]
    first = runs[0]
    assert first.outcome is RunOutcome.TIMED_OUT, runs
    assert first.killed is True
    assert "killed" in (first.error or "") and "timeout_grace (1s)" in (first.error or "")
    later = [r.outcome for r in runs[1:]]
    # fires due while the first run held its slot are skipped; then one runs and succeeds
    assert set(later) <= {RunOutcome.SKIPPED, RunOutcome.SUCCEEDED}
    assert RunOutcome.SUCCEEDED in later
    assert not any(r.killed for r in runs[1:])
    assert not _alive(int(marker.read_text()))  # the spinning worker is gone


@needs_proc
def test_shutdown_with_a_stuck_process_job_returns_true_and_leaves_no_child(
    tmp_path: Path,
) -> None:
    before = _workers()
    s = Scheduler(max_processes=2)
    pidfile = tmp_path / "pid"
    events: list[Any] = []
    s.add_listener(events.append)
    s.add_job(jobs.spin_forever, Once(_soon()), args=[str(pidfile)], executor="process")
    s.start()
    worker = int(_wait_for_file(pidfile))
    assert _alive(worker) and worker in _workers()
    assert s.shutdown(timeout=2) is True
    assert not _alive(worker)
    assert _workers() - before == set()
    (run,) = s.get_runs()
    assert run.outcome is RunOutcome.FAILED and run.killed is True
    assert "shut down" in (run.error or "")


def test_a_scheduler_without_process_jobs_starts_no_process() -> None:
    s = Scheduler()
    s.add_job(jobs.add, "* * * * *", args=[1, 2])
    with s:
        pass
    assert not s._pieces.processes.started


# -- crashes ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("func", "expected"),
    [
        pytest.param(jobs.segfault, "killed by signal SIGSEGV (11)", id="segfault"),
        pytest.param(jobs.exit_3, "exited with code 3", id="os._exit(3)"),
    ],
)
def test_a_crashing_child_gives_a_failed_run_and_everything_keeps_running(
    sched: Scheduler, func: Any, expected: str
) -> None:
    events: list[Any] = []
    sched.add_listener(events.append)
    sched.add_job(func, Once(_soon()), executor="process")
    sched.start()
    _wait_for(events, JobFailed)
    (run,) = sched.get_runs()
    assert run.outcome is RunOutcome.FAILED
    assert run.error is not None and run.error.startswith("ProcessDied: ")
    assert expected in run.error
    assert run.killed is False  # it died on its own
    # the scheduler runs on, and the next process job gets a new worker
    assert sched.running
    job = sched.add_job(jobs.add, "0 0 1 1 *", args=[2, 3], executor="process")
    assert sched.run_job(job.id).result(GUARD) == 5


def test_a_job_exception_in_the_child_is_a_failed_run_with_its_traceback(
    sched: Scheduler,
) -> None:
    job = sched.add_job(jobs.raise_value_error, "0 0 1 1 *", executor="process")
    sched.start()
    with pytest.raises(ValueError, match="boom in the worker") as info:
        sched.run_job(job.id).result(GUARD)
    assert "process_jobs.py" in str(info.value.__cause__)


# -- inside the child --------------------------------------------------------------------------
def test_current_job_in_the_child_has_the_id_the_fire_and_a_working_cancel_event(
    tmp_path: Path,
) -> None:
    clock = VirtualClock("2026-03-29T00:59:00+00:00")
    s = Scheduler(clock=clock, timezone="Europe/Bratislava", max_processes=1)
    out = tmp_path / "who"
    s.add_job(jobs.who_am_i, "0 3 * * *", args=[str(out)], executor="process", timeout=30,
              id="who")  # fmt: skip
    with s:
        clock.advance(minutes=1, scheduler=s, wait=False)  # the 03:00 fire (CEST begins)
        started = json.loads(_wait_for_file(Path(f"{out}.started")))
        parent_pid = os.getpid()
        assert started["pid"] != parent_pid
        assert started["job_id"] == "who"
        assert started["scheduled_time"] == "2026-03-29T03:00:00+02:00"
        assert started["cancelled"] is False
        clock.advance(seconds=31, scheduler=s, wait=False)  # past the timeout: cancelled
        finished = json.loads(_wait_for_file(out))
        settle(s, timeout=GUARD)
    assert finished["cancelled"] is True
    (run,) = s.get_runs()
    assert run.outcome is RunOutcome.TIMED_OUT
    assert run.killed is False  # it stopped when asked


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_logs_from_the_child_reach_the_parents_handlers_with_the_run_fields(
    sched: Scheduler,
) -> None:
    handler = _Collect()
    logger = logging.getLogger("tests.process_jobs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        job = sched.add_job(jobs.log_something, "0 0 1 1 *", args=["hello"], executor="process")
        sched.start()
        worker = sched.run_job(job.id).result(GUARD)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    warning, error = handler.records  # in order, before the run's outcome
    assert warning.getMessage() == "from the worker: hello"
    assert warning.process == worker != os.getpid()
    assert warning.job_id == job.id  # type: ignore[attr-defined]
    assert warning.worker_pid == worker  # type: ignore[attr-defined]
    assert error.levelno == logging.ERROR
    assert "KeyError: 'hello'" in logging.Formatter().format(error)


def test_children_are_reused_and_retired_after_max_runs_per_process() -> None:
    def pids(s: Scheduler) -> list[int]:
        job = s.add_job(jobs.pid, "0 0 1 1 *", executor="process")
        with s:
            return [s.run_job(job.id).result(GUARD) for _ in range(3)]

    reused = pids(Scheduler(max_processes=1))
    assert len(set(reused)) == 1
    retired = pids(Scheduler(max_processes=1, max_runs_per_process=1))
    assert len(set(retired)) == 3


def test_a_result_that_does_not_pickle_comes_back_as_its_repr(sched: Scheduler) -> None:
    job = sched.add_job(jobs.unpicklable_result, "0 0 1 1 *", executor="process")
    sched.start()
    assert sched.run_job(job.id).result(GUARD).startswith("<unpicklable")


def test_the_run_history_holds_the_short_result(tmp_path: Path) -> None:
    clock = VirtualClock("2026-01-01T00:00:00+00:00")
    s = Scheduler(clock=clock, max_processes=1)
    s.add_job(jobs.add, "* * * * *", args=[20, 22], executor="process")
    with s:
        clock.advance(minutes=1, scheduler=s)
        settle(s, timeout=GUARD)
    (run,) = s.get_runs()
    assert run.outcome is RunOutcome.SUCCEEDED and ast.literal_eval(run.result or "") == 42


# -- bad input -------------------------------------------------------------------------------
def _nested() -> Any:
    def nested() -> None:
        pass

    return nested


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"func": lambda: None}, "lambda", id="lambda"),
        pytest.param({"func": _nested()}, "nested function", id="nested-function"),
        pytest.param(
            {"executor": "gpu"},
            "executor must be one of 'thread', 'process', got 'gpu'",
            id="unknown-executor",
        ),
        pytest.param(
            {"args": [threading.Lock()]}, r"args\[0\] \(a lock\) cannot be sent", id="lock-arg"
        ),
        pytest.param(
            {"kwargs": {"out": open(os.devnull)}},
            r"kwargs\['out'\] .* cannot be sent",
            id="file-argument",
        ),
        pytest.param({"timeout_grace": -1}, "timeout_grace must be", id="negative-grace"),
    ],
)
def test_bad_process_jobs_are_refused_at_add_job(kwargs: dict[str, Any], message: str) -> None:
    s = Scheduler()
    options = {"func": jobs.add, "executor": "process", "id": "the-job", **kwargs}
    func = options.pop("func")
    with pytest.raises(InvalidJob, match=message) as info:
        s.add_job(func, "* * * * *", **options)
    assert info.value.job_id == "the-job"
    assert "'the-job'" in str(info.value)
    assert s.get_jobs() == []


def test_a_run_context_that_cannot_cross_is_refused_at_add_job() -> None:
    def closure(job: Any) -> Any:
        raise AssertionError("never entered")

    s = Scheduler(run_context=closure)
    s.add_job(jobs.add, "* * * * *", args=[1, 2])  # a thread job does not care
    with pytest.raises(InvalidJob, match=r"run_context .* cannot be sent to a worker process"):
        s.add_job(jobs.add, "* * * * *", args=[1, 2], executor="process", id="p")


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_bad_process_settings_are_refused_at_construction(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_processes must be an int >= 1"):
        Scheduler(max_processes=value)
    with pytest.raises(ConfigurationError, match="max_runs_per_process must be an int >= 1"):
        Scheduler(max_runs_per_process=value)


def test_process_died_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ProcessDied("gone", killed=True, exitcode=-9)))
    assert (str(err), err.killed, err.exitcode) == ("gone", True, -9)


def test_the_decorator_form_registers_a_process_job() -> None:
    with jobs.declared as s:
        assert s.run_job("declared").result(GUARD) != os.getpid()


def test_a_method_bound_to_an_instance_is_refused() -> None:
    with pytest.raises(InvalidJob, match="bound to an instance"):
        Scheduler().add_job(jobs.Report().build, "* * * * *", executor="process")


@needs_proc
def test_call_job_before_start_runs_in_a_worker_and_shutdown_ends_it() -> None:
    before = _workers()
    s = Scheduler()
    job = s.add_job(jobs.pid, "0 0 1 1 *", executor="process")
    worker = s.call_job(job.id)
    assert worker != os.getpid() and _alive(worker)
    assert s.shutdown() is True
    assert not _alive(worker)
    assert _workers() - before == set()


def test_the_new_options_leave_existing_fingerprints_alone() -> None:
    """Stored definitions of jobs that do not use the executor options are what earlier
    versions stored, so an upgrade is not a conflicting redefinition."""
    from scheduler.job import JobOptions

    assert set(JobOptions().to_dict()) == {"max_instances", "misfire_grace_time", "coalesce",
                                           "jitter", "retries", "timeout"}  # fmt: skip
    process = JobOptions(executor="process", timeout_grace=2).to_dict()
    assert process["executor"] == "process" and process["timeout_grace"] == 2


def _wait_for_outcome(s: Scheduler) -> RunRecord:
    deadline = time.monotonic() + GUARD
    while True:
        runs = [r for r in s.get_runs() if r.outcome is not None]
        if runs:
            return runs[0]
        assert time.monotonic() < deadline, "no outcome recorded"
        time.sleep(0.01)


@needs_proc
def test_a_kill_takes_the_jobs_own_subprocesses_with_it(sched: Scheduler, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    sched.add_job(jobs.start_subprocess_and_spin, Once(_soon()), args=[str(pidfile)],
                  executor="process", timeout=1, timeout_grace=0.5)  # fmt: skip
    sched.start()
    pids = json.loads(_wait_for_file(pidfile))
    assert _alive(pids["sleep"])
    run = _wait_for_outcome(sched)
    assert run.outcome is RunOutcome.TIMED_OUT and run.killed is True
    assert not _alive(pids["worker"])
    assert not _alive(pids["sleep"])


@needs_proc
def test_a_worker_killed_from_outside_fails_its_run_and_the_other_worker_runs_on(
    sched: Scheduler, tmp_path: Path
) -> None:
    """As the kernel's OOM killer does: SIGKILL to one worker. The run is failed (not
    killed by the scheduler), and a run in the other worker finishes normally."""
    import signal

    release = tmp_path / "release"
    other = sched.add_job(jobs.wait_for_file, "0 0 1 1 *", args=[str(release)],
                          executor="process", id="other")  # fmt: skip
    pidfile = tmp_path / "pid"
    sched.add_job(jobs.spin_forever, Once(_soon()), args=[str(pidfile)], executor="process")
    sched.start()
    waiting = sched.run_job(other.id)
    victim = int(_wait_for_file(pidfile))
    os.kill(victim, signal.SIGKILL)
    run = _wait_for_outcome(sched)
    assert run.outcome is RunOutcome.FAILED and run.killed is False
    assert "killed by signal SIGKILL (9)" in (run.error or "")
    assert "out-of-memory" in (run.error or "")
    release.write_text("go")
    assert waiting.result(GUARD) not in (victim, os.getpid())
    assert sched.running


_DIES = """
import os, sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from scheduler import Once, Scheduler
from tests import process_jobs as jobs

if __name__ == "__main__":
    pidfile = Path(sys.argv[1])
    s = Scheduler()
    s.add_job(jobs.start_subprocess_and_spin, Once(datetime.now(timezone.utc)
              + timedelta(seconds=0.2)), args=[str(pidfile)], executor="process")
    s.start()
    deadline = time.monotonic() + 60
    while (not pidfile.exists() or not pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    os._exit(9)  # dies without shutdown(), as under SIGKILL
"""


@needs_proc
def test_when_the_schedulers_process_dies_its_workers_and_their_subprocesses_end(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    pidfile = tmp_path / "pids"
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _DIES, str(pidfile)], cwd=root, timeout=GUARD)
    assert done.returncode == 9
    pids = json.loads(pidfile.read_text())
    deadline = time.monotonic() + GUARD
    while _alive(pids["worker"]) or _alive(pids["sleep"]):
        assert time.monotonic() < deadline, f"still alive after {GUARD}s: {pids}"
        time.sleep(0.01)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_of_a_process_with_workers_can_run_process_jobs() -> None:
    """gunicorn --preload: the app process started multiprocessing's forkserver, then forked
    its web workers. Their process jobs cannot use the parent's forkserver; they still run."""
    first = Scheduler(max_processes=1)
    job = first.add_job(jobs.pid, "0 0 1 1 *", executor="process")
    assert first.call_job(job.id) != os.getpid()  # the forkserver runs now
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked child reports through the pipe
        code = 1
        try:
            s = Scheduler(max_processes=1)
            s.add_job(jobs.add, "0 0 1 1 *", args=[2, 3], executor="process", id="add")
            os.write(write, str(s.call_job("add")).encode())
            code = 0 if s.shutdown() else 2
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as answer:
        got = answer.read()
    _, status = os.waitpid(child, 0)
    assert first.shutdown() is True
    assert got == "5"
    assert os.waitstatus_to_exitcode(status) == 0
