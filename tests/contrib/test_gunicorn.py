"""gunicorn with several workers and one SQLite store: each fire runs exactly once.

The app is a Flask app using the extension, served with examples/gunicorn.conf.py; its job
fires every second and prints its fire key. The test stops gunicorn after a few fires and
checks that no fire key was run twice, by the jobs' output and by the run history.
"""

from __future__ import annotations

import collections
import os
import selectors
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

pytest.importorskip("gunicorn")
pytest.importorskip("flask")

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "examples" / "gunicorn.conf.py"
HANG_GUARD = 60.0  # seconds; only guards against a hang, never asserts a duration
FIRES = 4

APP = textwrap.dedent(
    """
    import os

    from flask import Flask

    from scheduler import Interval, current_job
    from scheduler.contrib.flask import FlaskScheduler

    ext = FlaskScheduler()

    @ext.job(Interval(seconds=1), id="every_second", misfire_grace_time=30)
    def every_second():
        run = current_job()
        print(f"FIRE {run.scheduled_time.isoformat()} {os.getpid()}", flush=True)

    def create_app():
        app = Flask(__name__)
        app.config["SCHEDULER_STORE"] = os.environ["SCHEDULER_STORE"]
        ext.init_app(app)
        return app
    """
)


def fire_lines(proc: subprocess.Popen[str], count: int) -> list[str]:
    """Read stdout until ``count`` FIRE lines arrived; the select timeout is a hang guard."""
    assert proc.stdout is not None
    lines: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while len(lines) < count:
            if not sel.select(HANG_GUARD):
                proc.kill()
                pytest.fail(f"gunicorn produced {lines}; stderr: {proc.communicate()[1]}")
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"gunicorn exited; stderr: {proc.communicate()[1]}")
            if line.startswith("FIRE "):
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("preload", [False, True], ids=["workers-import", "preload-fork"])
def test_each_fire_runs_once_across_gunicorn_workers(tmp_path: Path, preload: bool) -> None:
    (tmp_path / "gapp.py").write_text(APP)
    store = f"sqlite:///{tmp_path / 'scheduler.db'}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "SCHEDULER_STORE": store,
        "GUNICORN_WORKERS": "3",
        "GUNICORN_BIND": "127.0.0.1:0",
        "GUNICORN_PRELOAD": "1" if preload else "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF), "gapp:create_app()"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = fire_lines(proc, FIRES)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    seen += [line.strip() for line in out.splitlines() if line.startswith("FIRE ")]
    keys = collections.Counter(line.split()[1] for line in seen)
    assert len(keys) >= FIRES
    assert [key for key, n in keys.items() if n > 1] == [], seen

    # The run history agrees: one row per fire, each fire key distinct, every one of the
    # printed fires recorded.
    from scheduler.stores import from_url

    history = from_url(store)
    history.open()
    try:
        runs = history.get_runs("every_second", 1000)
    finally:
        history.close()
    recorded = collections.Counter(utc(run.scheduled_time) for run in runs)
    assert [key for key, n in recorded.items() if n > 1] == []
    succeeded = {utc(run.scheduled_time) for run in runs if str(run.outcome) == "succeeded"}
    assert {utc(datetime.fromisoformat(key)) for key in keys} <= succeeded


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)
