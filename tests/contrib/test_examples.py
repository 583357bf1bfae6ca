"""The examples in examples/ keep working: each is driven the way its docstring says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD = 60.0  # seconds; only guards against a hang


def test_flask_example_app() -> None:
    pytest.importorskip("flask")
    from examples.flask_app.app import create_app, scheduler

    app = create_app({"SCHEDULER_AUTOSTART": False})
    try:
        body = app.test_client().get("/").json
        assert body["visits"] >= 1
        assert set(body["jobs"]) == {
            "examples.flask_app.app:count_visits",
            "examples.flask_app.app:nightly_cleanup",
        }
        result = app.test_cli_runner().invoke(
            args=["scheduler", "run-job", "examples.flask_app.app:count_visits"]
        )
        assert result.exit_code == 0, result.output
        assert "succeeded" in result.output
    finally:
        scheduler.shutdown(app)


def test_django_example_project(tmp_path: Path) -> None:
    pytest.importorskip("django")
    project = ROOT / "examples" / "django_project"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=project, env=env, capture_output=True, text=True, timeout=HANG_GUARD,
        )

    try:
        checked = manage("check")
        assert checked.returncode == 0, checked.stderr
        listed = manage("scheduler_jobs", "list")
        assert listed.returncode == 0, listed.stderr
        assert "purge_expired_sessions" in listed.stdout
        assert "count_users" in listed.stdout
    finally:
        for name in ("db.sqlite3", "scheduler.db"):
            (project / name).unlink(missing_ok=True)


def test_demo_times_out_once_on_purpose_and_export_succeeds() -> None:
    """The demo does not look broken (#9): ``export`` fits in its timeout; ``overrun``
    times out once, on purpose, and says so. The run is bounded by --seconds."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--seconds", "7"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=HANG_GUARD, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    log = proc.stderr
    assert "scheduler started: instance" in log
    assert log.count("job overrun timed out after 1.0 s") == 1
    assert "job export timed out" not in log
    assert "job export succeeded in" in log
    assert "shut down cleanly" in proc.stdout
