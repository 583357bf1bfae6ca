"""Times and durations as a person reads them (#9): the job's zone in messages and in
``scheduler list``, UTC only in machine fields; durations like ``12.3 ms``; a run that
returned early because cancellation was requested says so; ``run-job`` shows tracebacks."""

from __future__ import annotations

import logging
import re
import textwrap
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from scheduler import Scheduler, cli, current_job
from scheduler._log import format_duration
from scheduler.testing import VirtualClock
from tests.core_support import START, wait

T0 = datetime.fromisoformat(START)  # Monday 2026-03-02 12:00 UTC = 13:00 in Bratislava


def noop() -> str:
    return "done"


def boom() -> None:
    raise RuntimeError("upstream returned 503")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0000195, "20 µs"),
        (0.0123, "12.3 ms"),
        (0.99996, "1.0 s"),
        (4.1, "4.1 s"),
        (59.96, "1 min"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (12000, "3 h 20 min"),
        (float("inf"), "inf s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_messages_use_the_jobs_zone_and_machine_fields_stay_utc(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An interval job of a Bratislava scheduler is read in Bratislava time, like a cron
    job; ``scheduled_time`` in ``extra`` is UTC for machines; durations read as durations."""
    clock = VirtualClock(START)
    sched = Scheduler(timezone="Europe/Bratislava", clock=clock)
    sched.add_job(noop, timedelta(minutes=5), id="every5")
    sched.add_job(boom, timedelta(minutes=5), id="fails")
    with caplog.at_level(logging.INFO, logger="scheduler"), sched:
        clock.advance(minutes=5, scheduler=sched)
    messages = [(r, r.getMessage()) for r in caplog.records]
    [started] = [r for r, m in messages if m.startswith("job every5 (noop) started")]
    assert "scheduled 2026-03-02T13:05:00+01:00 Europe/Bratislava" in started.getMessage()
    assert started.scheduled_time == "2026-03-02T12:05:00+00:00"  # type: ignore[attr-defined]
    [done] = [r for r in caplog.records if r.getMessage().startswith("job every5 succeeded")]
    assert re.match(r"job every5 succeeded in \d+(\.\d)? (µs|ms|s): 'done'$", done.getMessage())
    assert isinstance(done.duration, float)  # type: ignore[attr-defined]
    [failed] = [r for r in caplog.records if r.getMessage().startswith("job fails failed")]
    human = r"\d+(\.\d)? (µs|ms|s)"
    assert re.match(rf"job fails failed after {human} \(attempt 1\)", failed.getMessage())
    assert isinstance(failed.duration, float)  # type: ignore[attr-defined]


def test_list_shows_last_run_in_the_jobs_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"people_target_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(f"""
        from scheduler import Scheduler
        sched = Scheduler(timezone="Europe/Bratislava", store="sqlite:///{tmp_path}/jobs.db")
        sched.add_job(print, "*/5 * * * *", id="five")
    """))  # fmt: skip
    clock = VirtualClock(START)
    ran = Scheduler(timezone="Europe/Bratislava", store=f"sqlite:///{tmp_path}/jobs.db",
                    clock=clock)  # fmt: skip
    ran.add_job(print, "*/5 * * * *", id="five")
    with ran:
        clock.advance(minutes=5, scheduler=ran)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["list", f"{module}:sched"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("five"))
    assert "succeeded 2026-03-02 13:05:00+01:00" in line  # NEXT RUN and LAST RUN: one zone


def test_a_run_cancelled_by_shutdown_is_flagged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job that returns early when shutdown sets its cancel_event is recorded succeeded
    *with* cancel_requested, and the log line and ``list`` say so (#9)."""
    started = threading.Event()

    def patient() -> str:
        run = current_job()
        assert run is not None
        started.set()
        run.cancel_event.wait(60)  # a hang guard: shutdown sets it
        return "stopped early"

    clock = VirtualClock(START)
    sched = Scheduler(store=f"sqlite:///{tmp_path}/jobs.db", clock=clock)
    sched.add_job(patient, timedelta(minutes=1), id="patient")
    with caplog.at_level(logging.INFO, logger="scheduler"):
        sched.start()
        clock.advance(minutes=1, scheduler=sched, wait=False)
        wait(started, "the run to start")
        assert sched.shutdown(timeout=30)
    [run] = sched.get_runs("patient")
    assert run.outcome == "succeeded" and run.cancel_requested
    [done] = [r for r in caplog.records if r.getMessage().startswith("job patient succeeded")]
    assert "(it returned after its cancellation was requested)" in done.getMessage()
    assert done.cancel_requested is True  # type: ignore[attr-defined]

    from scheduler.cli import format_jobs

    lister = Scheduler(store=f"sqlite:///{tmp_path}/jobs.db")
    lister.add_job(patient, timedelta(minutes=1), id="patient")
    assert "succeeded (cancel requested)" in format_jobs(lister)


def test_cli_run_job_prints_the_traceback_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"runjob_target_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent("""
        from scheduler import Scheduler
        sched = Scheduler()

        @sched.job("@daily", id="fails")
        def fails():
            raise RuntimeError("upstream returned 503")

        @sched.job("@daily", id="works")
        def works():
            return 42
    """))  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run-job", f"{module}:sched", "fails"]) == 1
    out, err = capsys.readouterr()
    assert out == "fails: failed: RuntimeError: upstream returned 503\n"
    assert err.startswith("Traceback (most recent call last)")
    assert 'raise RuntimeError("upstream returned 503")' in err
    assert cli.main(["run-job", f"{module}:sched", "works"]) == 0
    assert capsys.readouterr().out == "works: succeeded (returned 42)\n"
    assert cli.main(["run-job", f"{module}:sched", "nope"]) == 1
