"""The ``scheduler`` command line: ``next`` in-process, ``list``, and ``run`` as a subprocess."""

from __future__ import annotations

import io
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scheduler import cli

ROOT = Path(__file__).resolve().parent.parent

# A hang guard for waiting on subprocesses: never an assertion about how long things take.
HANG_GUARD = 60.0


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- next --------------------------------------------------------------------------------------


def test_next_lists_fire_times_in_the_zone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "next", "30 2 * * *", "--tz", "Europe/Bratislava",
        "--after", "2026-03-27T00:00", "-n", "3",
    )
    assert code == 0, err
    assert out.splitlines() == [
        "2026-03-27 02:30:00+01:00  Fri",
        "2026-03-28 02:30:00+01:00  Sat",
        # 02:30 does not exist on the spring-forward day: a fixed-time job fires at the jump.
        "2026-03-29 03:00:00+02:00  Sun",
    ]


def test_next_defaults_to_five_times_from_now_in_utc(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "next", "@hourly")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5
    assert all(":00:00+00:00" in line for line in lines)


def test_next_with_an_aware_after_and_seconds_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "next", "*/20 * * * * *", "--after", "2026-01-01T10:00:00+00:00", "-n", "2"
    )
    assert code == 0
    assert out.splitlines() == [
        "2026-01-01 10:00:20+00:00  Thu",
        "2026-01-01 10:00:40+00:00  Thu",
    ]


@pytest.mark.parametrize(
    ("expression", "field", "caret"),
    [
        pytest.param("61 * * * *", "minute", "  ^^", id="out-of-range"),
        pytest.param("0 0 1 1 mon,xyz", "day of week", "              ^^^", id="bad-name"),
        pytest.param("0 0 32 * *", "day of month", "      ^^", id="bad-day"),
    ],
)
def test_next_bad_expression_names_field_and_token(
    capsys: pytest.CaptureFixture[str], expression: str, field: str, caret: str
) -> None:
    code, out, err = run_cli(capsys, "next", expression)
    assert code == 2
    assert out == ""
    assert f"in the {field} field" in err
    assert err.splitlines()[-1] == caret
    assert err.startswith("scheduler next: error: invalid cron expression")


def test_next_wrong_field_count(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "next", "* * *")
    assert code == 2
    assert "expected 5 fields" in err


def test_next_bad_zone_and_bad_after(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "next", "@daily", "--tz", "Mars/Olympus")
    assert code == 2
    assert "Mars/Olympus" in err
    code, _, err = run_cli(capsys, "next", "@daily", "--after", "yesterday")
    assert code == 2
    assert "--after" in err


def test_next_bad_usage_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["next"])
    assert info.value.code == 2


def test_python_dash_m_scheduler_next() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler", "next", "0 0 31 2 *"],
        capture_output=True, text=True, timeout=HANG_GUARD, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "invalid cron expression" in proc.stderr


# -- logging -----------------------------------------------------------------------------------


def test_json_formatter_keeps_extra_fields() -> None:
    record = logging.LogRecord("scheduler", logging.INFO, __file__, 1, "job %s ran", ("a",), None)
    record.job_id = "a"
    data = json.loads(cli.JSONFormatter().format(record))
    assert data["message"] == "job a ran"
    assert data["job_id"] == "a"
    assert data["level"] == "INFO"


def test_setup_logging_adds_no_handler_when_one_would_handle() -> None:
    lib = logging.getLogger("scheduler")
    root = logging.getLogger()
    existing = logging.StreamHandler(io.StringIO())
    lib.addHandler(existing)
    old_level = lib.level
    try:
        assert cli.setup_logging("INFO", "text") is None
    finally:
        lib.removeHandler(existing)
        lib.setLevel(old_level)
    old_root = root.level
    old_handlers = list(root.handlers)
    old_propagate = lib.propagate
    root.handlers.clear()
    try:
        added = cli.setup_logging("DEBUG", "json", stream=io.StringIO())
        assert added is not None
        assert isinstance(added.formatter, cli.JSONFormatter)
    finally:
        root.handlers[:] = old_handlers
        root.setLevel(old_root)
        lib.setLevel(old_level)
        lib.propagate = old_propagate


# -- loading targets ---------------------------------------------------------------------------

TASKS = textwrap.dedent(
    """
    from scheduler import Scheduler, Interval

    sched = Scheduler(timezone="Europe/Bratislava")

    @sched.job("0 3 * * *", id="nightly")
    def nightly():
        pass

    @sched.job(Interval(hours=1), id="hourly")
    def hourly():
        pass

    def make():
        return sched

    not_a_scheduler = 42
    """
)


@pytest.fixture
def tasks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    module = f"cli_tasks_{os.getpid()}_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{module}.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    return tmp_path / module


def test_list_shows_jobs_triggers_and_next_run_in_job_zone(
    tasks_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "list", f"{tasks_dir.name}:sched")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TRIGGER", "NEXT", "RUN", "LAST", "RUN"]
    nightly = next(line for line in lines if line.startswith("nightly"))
    assert "0 3 * * *" in nightly
    assert "03:00:00+01:00" in nightly or "03:00:00+02:00" in nightly
    assert any(line.startswith("hourly") for line in lines)


def test_list_accepts_a_factory(tasks_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "list", f"{tasks_dir.name}:make")
    assert code == 0
    assert "nightly" in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param("no_colon", "module:attribute", id="no-colon"),
        pytest.param("surely_missing_module_xyz:sched", "cannot import module", id="no-module"),
        pytest.param("{mod}:missing", "has no attribute", id="no-attr"),
        pytest.param("{mod}:not_a_scheduler", "not a Scheduler", id="wrong-type"),
    ],
)
def test_list_bad_target_exits_2(
    tasks_dir: Path, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    code, _, err = run_cli(capsys, "list", target.format(mod=tasks_dir.name))
    assert code == 2
    assert message in err


# -- run as a subprocess -----------------------------------------------------------------------

SLOW_TASKS = textwrap.dedent(
    """
    import sys
    from scheduler import Scheduler, Interval, current_job

    sched = Scheduler(shutdown_timeout=30)

    @sched.job(Interval(seconds=1), id="slow")
    def slow():
        print("started", flush=True)
        # Runs until shutdown asks it to stop: proves the process waits for it.
        current_job().cancel_event.wait(60)
        print("finished", flush=True)
    """
)


def read_line(proc: subprocess.Popen[str]) -> str:
    """The next stdout line; the select timeout is a hang guard."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(HANG_GUARD):
            proc.kill()
            pytest.fail(f"no output from the subprocess; stderr: {proc.communicate()[1]}")
    return proc.stdout.readline().strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_shuts_down_gracefully_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "slow_tasks.py").write_text(SLOW_TASKS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "run", "slow_tasks:sched", "--log-format", "json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert read_line(proc) == "started"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    # The job's "finished" line came before the exit: the process waited for the job.
    assert out.split() == ["finished"], (out, err)
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert logs, err
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logs)


# -- run-job and --queue (#12) -------------------------------------------------------------------

STORED_TASKS = """
from scheduler import Scheduler

sched = Scheduler(store={url!r})

@sched.job("0 3 * * *", id="nightly")
def nightly():
    return "done"
"""


def test_run_job_runs_here_or_queues_for_a_running_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scheduler.stores import RunOutcome, from_url

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    module = f"cli_stored_{os.getpid()}_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{module}.py").write_text(STORED_TASKS.format(url=url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    target = f"{module}:sched"

    code, out, err = run_cli(capsys, "run-job", target, "nightly")
    assert code == 0, err
    assert out == "nightly: succeeded (returned 'done')\n"
    code, out, err = run_cli(capsys, "run-job", target, "nightly", "--queue")
    assert code == 0, err
    assert out.startswith("nightly: queued as run ")
    key = out.split()[4]
    store = from_url(url)
    try:
        queued = store.get_run(key)
        assert queued is not None and queued.outcome is None and queued.trigger == "manual"
        assert (queued.requested_by or "").startswith("scheduler run-job (")
        ran = [r for r in store.get_runs("nightly") if r.run_id != key]
        assert [(r.trigger, r.outcome, r.result) for r in ran] == [
            ("manual", RunOutcome.SUCCEEDED, "'done'")
        ]
        assert store.queued_requests() == 1
        store.set_paused("nightly", True)  # as another process would
    finally:
        store.close()
    code, out, _ = run_cli(capsys, "list", target)
    assert code == 0
    nightly = next(line for line in out.splitlines() if line.startswith("nightly"))
    assert "paused" in nightly
    code, out, err = run_cli(capsys, "run-job", target, "nope", "--queue")
    assert code == 1
    assert "no job with id 'nope'" in err
