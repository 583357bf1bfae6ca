"""The Flask extension, driven through real Flask apps, the test client and the CLI runner."""

from __future__ import annotations

import os
import queue
import selectors
import signal
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest

flask = pytest.importorskip("flask")

from flask import Flask, current_app, g  # noqa: E402
from flask.cli import run_command  # noqa: E402

from scheduler.contrib import flask as flask_ext  # noqa: E402
from scheduler.contrib.flask import FlaskScheduler, SchedulerExtension  # noqa: E402
from scheduler.exceptions import ConfigurationError  # noqa: E402

HANG_GUARD = 30.0  # seconds; only guards against a hang, never asserts a duration

# What the module-level jobs saw, per call: (app name, a value only that app's context has).
seen: queue.Queue[tuple[str, Any]] = queue.Queue()

ext = FlaskScheduler()


@ext.job("0 3 * * *", id="report")
def report() -> str:
    seen.put((current_app.name, current_app.config.get("MARKER")))
    g.touched = True  # g exists: we are inside an app context
    return "ok"


def failing() -> None:
    raise RuntimeError("boom")


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    apps: list[tuple[FlaskScheduler, Flask]] = []

    def factory(
        name: str = "app_one", extension: FlaskScheduler | None = None, **config: Any
    ) -> Flask:
        app = Flask(name)
        app.config.update({"SCHEDULER_AUTOSTART": False, "TESTING": True, **config})
        extension = extension or ext
        extension.init_app(app)
        apps.append((extension, app))

        @app.get("/jobs")
        def jobs() -> dict[str, Any]:
            sched = extension.scheduler
            return {"running": sched.running, "jobs": [job.id for job in sched.get_jobs()]}

        return app

    yield factory
    for extension, app in apps:
        extension.shutdown(app)


def drain() -> None:
    while not seen.empty():
        seen.get_nowait()


# -- configuration -----------------------------------------------------------------------------


def test_state_lives_in_app_extensions_not_on_the_extension(make_app: Callable[..., Flask]) -> None:
    app = make_app(SCHEDULER_TIMEZONE="Europe/Bratislava", SCHEDULER_MAX_WORKERS=3)
    state = app.extensions["scheduler"]
    assert state.extension is ext
    assert not hasattr(ext, "app")
    assert ext.get_scheduler(app) is state.scheduler
    with app.app_context():
        assert ext.scheduler is state.scheduler
    assert [job.id for job in state.scheduler.get_jobs()] == ["report"]
    assert SchedulerExtension is FlaskScheduler


@pytest.mark.parametrize(
    ("config", "match"),
    [
        pytest.param({"SCHEDULER_TIMEZON": "UTC"}, "did you mean 'SCHEDULER_TIMEZONE'", id="typo"),
        pytest.param({"SCHEDULER_MAX_WORKER": 2}, "SCHEDULER_MAX_WORKERS", id="typo-plural"),
        pytest.param({"SCHEDULER_MAX_WORKERS": 0}, "SCHEDULER_MAX_WORKERS must be", id="zero"),
        pytest.param({"SCHEDULER_AUTOSTART": "yes"}, "True or False", id="not-bool"),
        pytest.param({"SCHEDULER_TIMEZONE": "Mars/Base"}, "Mars/Base", id="zone"),
        pytest.param({"SCHEDULER_STORE": 42}, "SCHEDULER_STORE must be a URL", id="store"),
    ],
)
def test_bad_config_raises_at_init_app(config: dict[str, Any], match: str) -> None:
    app = Flask("bad")
    app.config.update(config)
    with pytest.raises(ConfigurationError, match=match):
        FlaskScheduler(app)
    assert "scheduler" not in app.extensions


def test_unknown_constructor_option_names_the_nearest() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'shutdown_timeout'"):
        FlaskScheduler(shutdown_timout=3)


def test_constructor_options_are_defaults_config_wins(make_app: Callable[..., Flask]) -> None:
    local = FlaskScheduler(autostart=False, max_workers=2, timezone="Asia/Tokyo")
    app = make_app("tokyo", extension=local, SCHEDULER_TIMEZONE="Europe/Bratislava")
    settings = app.extensions["scheduler"].settings
    assert settings["max_workers"] == 2
    assert settings["timezone"] == "Europe/Bratislava"


def test_init_app_twice_on_one_app_is_an_error(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match="already initialised"):
        ext.init_app(app)


def test_scheduler_outside_app_context_is_a_clear_error() -> None:
    app = Flask("never_initialised")
    with pytest.raises(ConfigurationError, match="init_app"):
        ext.get_scheduler(app)


# -- runs inside the app context ---------------------------------------------------------------


def test_job_runs_inside_the_app_context(make_app: Callable[..., Flask]) -> None:
    drain()
    app = make_app(MARKER="one")
    sched = ext.get_scheduler(app)
    sched.start()
    future = sched.run_job("report")
    future.result(timeout=HANG_GUARD)
    assert seen.get(timeout=HANG_GUARD) == ("app_one", "one")


def test_two_apps_each_run_their_own_jobs_in_their_own_context(
    make_app: Callable[..., Flask],
) -> None:
    drain()
    one = make_app("app_one", MARKER="one")
    two = make_app("app_two", MARKER="two")
    sched_one, sched_two = ext.get_scheduler(one), ext.get_scheduler(two)
    assert sched_one is not sched_two
    sched_one.start()
    sched_two.start()
    sched_two.run_job("report").result(timeout=HANG_GUARD)
    assert seen.get(timeout=HANG_GUARD) == ("app_two", "two")
    sched_one.run_job("report").result(timeout=HANG_GUARD)
    assert seen.get(timeout=HANG_GUARD) == ("app_one", "one")


def test_job_declared_after_init_app_reaches_initialised_apps(
    make_app: Callable[..., Flask],
) -> None:
    local = FlaskScheduler(autostart=False)
    app = make_app("late", extension=local)
    local.add_job(failing, "@daily", id="late_job")
    assert [job.id for job in local.get_scheduler(app).get_jobs()] == ["late_job"]


def test_job_defaults_apply_to_extension_jobs(make_app: Callable[..., Flask]) -> None:
    local = FlaskScheduler(autostart=False)
    local.add_job(failing, "@daily", id="with_defaults", retries=1)
    app = make_app("defaults", extension=local, SCHEDULER_JOB_DEFAULTS={"max_instances": 3})
    options = local.get_scheduler(app).get_job("with_defaults").options
    assert options.max_instances == 3
    assert options.retries == 1


def test_test_client_sees_the_scheduler(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    response = app.test_client().get("/jobs")
    assert response.json == {"running": False, "jobs": ["report"]}


# -- autostart and the reloader ----------------------------------------------------------------


def test_autostart_without_werkzeug_run_main_starts(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    # gunicorn, uWSGI, waitress: no reloader, no WERKZEUG_RUN_MAIN; it must start.
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    app = make_app(SCHEDULER_AUTOSTART=True)
    assert ext.get_scheduler(app).running


def flask_run_context(**params: Any) -> click.Context:
    root = click.Context(click.Group("flask"), info_name="flask")
    ctx = click.Context(run_command, parent=root, info_name="run")
    ctx.params.update(params)
    return ctx


@pytest.mark.parametrize(
    ("params", "debug", "run_main", "watcher"),
    [
        pytest.param({"reload": True}, "", None, True, id="reload-watcher"),
        pytest.param({"reload": True}, "", "true", False, id="reload-child"),
        pytest.param({"reload": None}, "1", None, True, id="debug-implies-reload"),
        pytest.param({"reload": None}, "", None, False, id="no-debug-no-reload"),
        pytest.param({"reload": False}, "1", None, False, id="debug-no-reload"),
    ],
)
def test_reloader_watcher_detection(
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, Any],
    debug: str,
    run_main: str | None,
    watcher: bool,
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", debug)
    if run_main is None:
        monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    else:
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", run_main)
    with flask_run_context(**params):
        assert flask_ext.is_reloader_watcher() is watcher
    assert flask_ext.is_reloader_watcher() is False  # no click command at all: gunicorn


def test_autostart_skipped_in_watcher_and_done_in_child(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with flask_run_context(reload=True):
        watcher_app = make_app("watcher", SCHEDULER_AUTOSTART=True)
    assert not ext.get_scheduler(watcher_app).running
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    with flask_run_context(reload=True):
        child_app = make_app("child", SCHEDULER_AUTOSTART=True)
    assert ext.get_scheduler(child_app).running


def test_autostart_skipped_under_other_flask_commands(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    root = click.Context(click.Group("flask"), info_name="flask")
    with click.Context(click.Command("shell"), parent=root, info_name="shell"):
        app = make_app("shell_app", SCHEDULER_AUTOSTART=True)
    assert not ext.get_scheduler(app).running


def test_uwsgi_without_threads_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., Flask]
) -> None:
    app = make_app()
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(opt={}))
    with pytest.raises(ConfigurationError, match="enable-threads"):
        ext.start(app)
    assert not ext.get_scheduler(app).running
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(opt={"enable-threads": True}))
    ext.start(app)
    assert ext.get_scheduler(app).running


# -- flask scheduler ... -----------------------------------------------------------------------


def test_cli_list(make_app: Callable[..., Flask]) -> None:
    app = make_app(SCHEDULER_TIMEZONE="Europe/Bratislava")
    result = app.test_cli_runner().invoke(args=["scheduler", "list"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("report"))
    assert "0 3 * * *" in line
    assert "03:00:00+0" in line  # next run shown in the job's zone


def test_cli_run_job_runs_in_app_context(make_app: Callable[..., Flask]) -> None:
    drain()
    app = make_app(MARKER="cli")
    result = app.test_cli_runner().invoke(args=["scheduler", "run-job", "report"])
    assert result.exit_code == 0, result.output
    assert "report: succeeded" in result.output
    assert seen.get(timeout=HANG_GUARD) == ("app_one", "cli")


def test_cli_run_job_failure_and_unknown_id(make_app: Callable[..., Flask]) -> None:
    local = FlaskScheduler(autostart=False)
    local.add_job(failing, "@daily", id="fails")
    app = make_app("failing_app", extension=local)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["scheduler", "run-job", "fails"])
    assert result.exit_code == 1
    assert "fails: failed" in result.output
    assert "boom" in result.output
    # the traceback on stderr (#9), the outcome line on stdout
    assert "Traceback (most recent call last)" in result.stderr
    assert 'raise RuntimeError("boom")' in result.stderr
    assert "Traceback" not in result.stdout
    result = runner.invoke(args=["scheduler", "run-job", "nope"])
    assert result.exit_code != 0


def test_cli_list_shows_dynamic_jobs_before_start(
    make_app: Callable[..., Flask], tmp_path: Any
) -> None:
    """A job added at run time by the ``flask scheduler run`` process is listed (#9)."""
    from scheduler import Scheduler

    url = f"sqlite:///{tmp_path}/jobs.db"
    running = Scheduler(store=url)
    running.task(report)  # allowed for jobs added at run time (docs/security.md)
    with running:
        running.add_job(report, "*/5 * * * *", id="added-at-run-time")
    local = FlaskScheduler(autostart=False)
    app = make_app("dynamic_app", extension=local, SCHEDULER_STORE=url)
    result = app.test_cli_runner().invoke(args=["scheduler", "list"])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("added-at-run-time"))
    assert line.startswith("added-at-run-time (dynamic)")


# -- flask scheduler run as a subprocess -------------------------------------------------------

SLOW_APP = """
from flask import Flask

from scheduler import Interval, current_job
from scheduler.contrib.flask import FlaskScheduler

ext = FlaskScheduler()


@ext.job(Interval(seconds=1), id="slow")
def slow():
    print("started", flush=True)
    current_job().cancel_event.wait(60)   # until shutdown asks it to stop
    print("finished", flush=True)


def create_app():
    app = Flask(__name__)
    ext.init_app(app)   # autostart is on, but not under `flask scheduler run`
    return app
"""


def test_flask_scheduler_run_exits_0_after_the_running_job_finished(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "slow_flask_app.py").write_text(SLOW_APP)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "slow_flask_app:create_app", "scheduler", "run"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(HANG_GUARD * 2), "no output from flask scheduler run"
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=HANG_GUARD * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.split() == ["finished"], (out, err)
    # Started once: by the command, not also by autostart while the app was loaded.
    assert err.count("scheduler started") == 1, err


def test_a_process_job_runs_in_an_app_context_built_in_its_worker() -> None:
    from tests.contrib import flask_process_app as module

    sched = module.ext.get_scheduler(module.app)
    assert sched.running  # autostart, in this process
    try:
        greeting, pid, state = sched.run_job("greet").result(timeout=60)
    finally:
        assert sched.shutdown(timeout=60)
    assert greeting == "hello from the app"
    assert pid != os.getpid()
    assert state == "stopped"  # importing the app in the worker did not start a scheduler there


def test_an_app_a_worker_cannot_find_is_refused_for_process_jobs() -> None:
    def make() -> Flask:  # neither a module global nor a create_app() factory
        return Flask("tests.process_jobs")

    ext = FlaskScheduler(make(), autostart=False)
    with pytest.raises(ConfigurationError, match="cannot find the Flask app"):
        ext.add_job(_module_level_job, "* * * * *", executor="process")


def _module_level_job() -> None:
    pass


def test_max_processes_config_key(make_app: Callable[..., Flask]) -> None:
    app = make_app(SCHEDULER_MAX_PROCESSES=3)
    assert ext.get_scheduler(app).max_processes == 3


# -- the health route (#12) ----------------------------------------------------------------------


def test_health_route_is_off_by_default(make_app: Callable[..., Flask]) -> None:
    assert make_app().test_client().get("/healthz/scheduler").status_code == 404


def test_health_route_answers_200_while_running_and_503_when_not(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SCHEDULER_HEALTH_URL="/healthz/scheduler")
    client = app.test_client()
    response = client.get("/healthz/scheduler")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["reasons"] == ["the scheduler is not running (state: stopped)"]
    assert response.headers["Cache-Control"] == "no-store"
    ext.start(app)
    response = client.get("/healthz/scheduler")
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["ok"] is True and response.json["view"] == "process"


def test_health_route_of_a_web_worker_reports_the_cluster(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """Autostart off, shared store: healthy while another process's scheduler is alive."""
    from scheduler import Scheduler

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    client = make_app(SCHEDULER_STORE=url, SCHEDULER_HEALTH_URL="/health").test_client()
    runner = Scheduler(store=url)  # the scheduler process
    runner.start()
    try:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json is not None and response.json["view"] == "cluster"
        assert [i["instance"] for i in response.json["instances"]] == [str(runner.owner)]
    finally:
        runner.shutdown()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["reasons"] == ["no live scheduler instance"]


def test_bad_health_url_is_a_configuration_error(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigurationError, match="SCHEDULER_HEALTH_URL must be None"):
        make_app(SCHEDULER_HEALTH_URL="healthz")
