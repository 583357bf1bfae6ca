"""The Django integration, driven through a real Django project (tests/contrib/django_project).

Django is configured by this module only (not in the pytest config), so the rest of the suite
runs without Django settings. Subprocess tests run the project's ``manage.py``.
"""

from __future__ import annotations

import io
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_project.settings")
# A file database, so that the "django" store (its own connections) sees the same tables.
os.environ.setdefault(
    "SCHEDULER_TEST_DB", os.path.join(tempfile.mkdtemp(prefix="scheduler-django-"), "db.sqlite3")
)

import django

django.setup()

from django.core import checks  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError, SystemCheckError  # noqa: E402
from django.test import override_settings  # noqa: E402

import scheduler.contrib.django as dj  # noqa: E402
from scheduler.contrib.django import apps as dj_apps  # noqa: E402
from scheduler.contrib.django.conf import get_settings  # noqa: E402
from scheduler.exceptions import ConfigurationError  # noqa: E402
from tests.contrib.django_project.testapp import jobs as testapp_jobs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MANAGE = ROOT / "tests" / "contrib" / "django_project" / "manage.py"
HANG_GUARD = 60.0  # seconds; only guards against a hang, never asserts a duration


@pytest.fixture(autouse=True)
def fresh_scheduler() -> Iterator[None]:
    dj.reset()
    testapp_jobs.calls.clear()
    yield
    dj.reset()


# -- settings and system checks ----------------------------------------------------------------


def scheduler_errors() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if m.id and m.id.startswith("scheduler.")]


def test_valid_settings_pass_the_checks() -> None:
    assert scheduler_errors() == []


def test_timezone_defaults_to_time_zone() -> None:
    assert get_settings()["timezone"] == "Europe/Bratislava"
    with override_settings(TIME_ZONE="Asia/Tokyo"):
        assert get_settings()["timezone"] == "Asia/Tokyo"
        assert str(dj.get_scheduler().timezone) == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param({"max_worker": 3}, "did you mean 'max_workers'", id="typo"),
        pytest.param({"autostrat": True}, "did you mean 'autostart'", id="typo-autostart"),
        pytest.param({"max_workers": -1}, "max_workers must be a positive int", id="negative"),
        pytest.param({"timezone": "Nowhere/Land"}, "Nowhere/Land", id="zone"),
        pytest.param({"autostart": "yes"}, "True or False", id="not-bool"),
        pytest.param(["timezone"], "must be a dict", id="not-a-dict"),
    ],
)
def test_bad_settings_are_system_check_errors(value: Any, match: str) -> None:
    with override_settings(SCHEDULER=value):
        errors = scheduler_errors()
        assert [e.id for e in errors] == ["scheduler.E001"]
        assert errors[0].msg.startswith("settings.SCHEDULER")
        with pytest.raises(ConfigurationError, match=match):
            get_settings()
        with pytest.raises(SystemCheckError, match=r"scheduler\.E001"):
            call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
        with pytest.raises(ConfigurationError, match=match):
            dj.get_scheduler()


def test_autostart_with_memory_store_warns() -> None:
    with override_settings(SCHEDULER={"autostart": True}):
        assert [m.id for m in scheduler_errors()] == ["scheduler.W001"]
    with override_settings(SCHEDULER={"autostart": True, "store": "sqlite:///x.db"}):
        assert scheduler_errors() == []


# -- discovery and the job decorator -----------------------------------------------------------


def test_jobs_modules_are_autodiscovered() -> None:
    ids = {job.id for job in dj.get_scheduler().get_jobs()}
    assert {"nightly", "uses_db"} <= ids


def test_job_declared_after_the_scheduler_exists_is_added() -> None:
    sched = dj.get_scheduler()

    @dj.job("@hourly", id="late")
    def late() -> None:
        pass

    try:
        assert sched.get_job("late").id == "late"
        dj.reset()
        assert dj.get_scheduler().get_job("late").id == "late"  # kept for the next build
    finally:
        dj._specs[:] = [s for s in dj._specs if s.options.get("id") != "late"]


def test_job_defaults_setting() -> None:
    with override_settings(SCHEDULER={"job_defaults": {"max_instances": 4}}):
        assert dj.get_scheduler().get_job("nightly").options.max_instances == 4


# -- database connections around each run -------------------------------------------------------


def test_close_old_connections_around_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import django.db

    real = django.db.close_old_connections
    order: list[str] = []

    def spy(**kwargs: Any) -> None:
        order.append("close")
        real(**kwargs)

    monkeypatch.setattr(django.db, "close_old_connections", spy)
    monkeypatch.setattr(testapp_jobs, "calls", _Recorder(order))
    sched = dj.get_scheduler()
    sched.start()
    assert sched.run_job("nightly").result(timeout=HANG_GUARD) == "done"
    assert order == ["close", "nightly", "close"]
    order.clear()
    assert sched.run_job("uses_db").result(timeout=HANG_GUARD) == 1
    assert order == ["close", ("uses_db", 1), "close"]


class _Recorder(list):  # type: ignore[type-arg]
    """A ``calls`` list that also writes into the shared order log."""

    def __init__(self, order: list[Any]) -> None:
        super().__init__()
        self._order = order

    def append(self, item: Any) -> None:
        self._order.append(item)
        super().append(item)


def test_connections_closed_even_when_the_job_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import django.db

    closes: list[int] = []
    monkeypatch.setattr(django.db, "close_old_connections", lambda **kw: closes.append(1))

    @dj.job("@daily", id="explodes")
    def explodes() -> None:
        raise RuntimeError("boom")

    try:
        sched = dj.get_scheduler()
        sched.start()
        with pytest.raises(RuntimeError, match="boom"):
            sched.run_job("explodes").result(timeout=HANG_GUARD)
        assert closes == [1, 1]
    finally:
        dj._specs[:] = [s for s in dj._specs if s.options.get("id") != "explodes"]


# -- management commands -----------------------------------------------------------------------


def test_scheduler_jobs_list() -> None:
    out = io.StringIO()
    call_command("scheduler_jobs", "list", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["ID", "TRIGGER"]
    nightly = next(line for line in lines if line.startswith("nightly"))
    # next run in the job's zone (TIME_ZONE): 03:00 local, +01:00 or +02:00
    assert " 03:00:00+0" in nightly
    out = io.StringIO()
    call_command("scheduler_jobs", stdout=out)  # list is the default
    assert "nightly" in out.getvalue()


def test_scheduler_jobs_run() -> None:
    out = io.StringIO()
    call_command("scheduler_jobs", "run", "nightly", stdout=out)
    assert out.getvalue().startswith("nightly: succeeded")
    assert testapp_jobs.calls == ["nightly"]
    assert not dj.get_scheduler().running  # running one job did not start the scheduler


def test_scheduler_jobs_run_unknown_and_failing() -> None:
    with pytest.raises(CommandError, match="no job with id 'nope'"):
        call_command("scheduler_jobs", "run", "nope", stdout=io.StringIO())

    @dj.job("@daily", id="fails")
    def fails() -> None:
        raise ValueError("bad input")

    try:
        out = io.StringIO()
        with pytest.raises(CommandError, match="did not succeed"):
            call_command("scheduler_jobs", "run", "fails", stdout=out)
        assert "fails: failed: ValueError: bad input" in out.getvalue()
        # the traceback goes to stderr (#9)
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("scheduler_jobs", "run", "fails", stdout=io.StringIO(), stderr=err)
        assert "Traceback (most recent call last)" in err.getvalue()
        assert 'raise ValueError("bad input")' in err.getvalue()
    finally:
        dj._specs[:] = [s for s in dj._specs if s.options.get("id") != "fails"]


# -- autostart ---------------------------------------------------------------------------------


def test_wsgi_application_starts_only_with_autostart(tmp_path: Path) -> None:
    from scheduler.contrib.django.wsgi import get_asgi_application, get_wsgi_application

    get_wsgi_application()
    assert not dj.get_scheduler().running
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with override_settings(SCHEDULER={"autostart": True, "store": store}):
        dj.reset()
        application = get_wsgi_application()
        assert dj.get_scheduler().running
        get_asgi_application()  # a second entry point does not start it twice
        assert dj.get_scheduler().running
    assert callable(application)


@pytest.mark.parametrize(
    ("argv", "run_main", "child"),
    [
        pytest.param(["manage.py", "runserver"], "true", True, id="runserver-child"),
        pytest.param(["manage.py", "runserver"], None, False, id="runserver-watcher"),
        pytest.param(["manage.py", "runserver", "--noreload"], None, True, id="noreload"),
        pytest.param(["manage.py", "migrate"], "true", False, id="migrate"),
        pytest.param(["manage.py", "shell"], None, False, id="shell"),
        pytest.param(["manage.py"], None, False, id="no-command"),
    ],
)
def test_runserver_child_detection(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], run_main: str | None, child: bool
) -> None:
    monkeypatch.setattr(sys, "argv", argv)
    if run_main is None:
        monkeypatch.delenv("RUN_MAIN", raising=False)
    else:
        monkeypatch.setenv("RUN_MAIN", run_main)
    assert dj_apps._is_runserver_child() is child


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


@pytest.mark.parametrize("command", ["shell", "migrate", "check"])
def test_management_commands_never_autostart(tmp_path: Path, command: str) -> None:
    probe = "from scheduler.contrib.django import get_scheduler; print(get_scheduler().running)"
    args = {"shell": ["shell", "-c", probe], "migrate": ["migrate"], "check": ["check"]}[command]
    proc = manage(
        *args,
        SCHEDULER_TEST_AUTOSTART="1",
        SCHEDULER_TEST_STORE=f"sqlite:///{tmp_path / 'jobs.db'}",
        SCHEDULER_TEST_DB=str(tmp_path / "db.sqlite3"),
        SCHEDULER_TEST_LOG="1",
    )
    assert proc.returncode == 0, proc.stderr
    assert "scheduler started" not in proc.stderr
    if command == "shell":
        assert proc.stdout.strip().splitlines()[-1] == "False"


def test_wsgi_module_autostarts_in_a_fresh_process(tmp_path: Path) -> None:
    # The positive control for the test above: the same settings do start it from wsgi.py.
    proc = subprocess.run(
        [sys.executable, "-c", "import tests.contrib.django_project.wsgi"],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SCHEDULER_TEST_AUTOSTART": "1",
            "SCHEDULER_TEST_STORE": f"sqlite:///{tmp_path / 'jobs.db'}",
            "SCHEDULER_TEST_LOG": "1",
        },
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )
    assert proc.returncode == 0, proc.stderr
    assert "scheduler started by autostart (wsgi)" in proc.stderr


# -- runscheduler as a subprocess --------------------------------------------------------------


def read_line(proc: subprocess.Popen[str]) -> str:
    """The next stdout line; the select timeout is a hang guard."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(HANG_GUARD):
            proc.kill()
            pytest.fail(f"no output from runscheduler; stderr: {proc.communicate()[1]}")
    return proc.stdout.readline().strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runscheduler_exits_0_after_the_running_job_finished(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(MANAGE), "runscheduler"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SCHEDULER_TEST_SLOW_JOB": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    assert out.split() == ["finished"], (out, err)
    assert "Running the scheduler with" in err
    assert "scheduler shut down (clean)" in err


# -- the "django" store and the read-only admin ------------------------------------------------


def quick() -> str:
    return "quick result"


def test_django_store_url_from_databases() -> None:
    from scheduler.contrib.django.store import database_url

    assert database_url() == f"sqlite:///{os.environ['SCHEDULER_TEST_DB']}"
    pg = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "me",
        "PASSWORD": "p@ss word",
        "HOST": "db.internal",
        "PORT": 5433,
    }
    assert database_url(databases={"default": pg}) == (
        "postgresql://me:p%40ss%20word@db.internal:5433/app"
    )
    socket = {**pg, "HOST": "/run/pg", "PASSWORD": ""}
    assert database_url(databases={"default": socket}) == (
        "postgresql://me@/app?host=%2Frun%2Fpg&port=5433"
    )
    mem = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    with pytest.raises(ConfigurationError, match="in memory"):
        database_url(databases={"default": mem})
    with pytest.raises(ConfigurationError, match="SQLite and PostgreSQL"):
        database_url(databases={"default": {"ENGINE": "django.db.backends.mysql"}})
    with pytest.raises(ConfigurationError, match="'reports', which is not in DATABASES"):
        database_url("reports")


def test_bad_django_store_alias_is_a_check_error() -> None:
    with override_settings(SCHEDULER={"store": "django:nope"}):
        errors = scheduler_errors()
        assert [e.id for e in errors] == ["scheduler.E001"]
        assert "'nope'" in errors[0].msg


@pytest.fixture
def migrated() -> None:
    call_command("migrate", verbosity=0, interactive=False)


def test_run_history_in_project_database_and_read_only_admin(migrated: None) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from scheduler import Interval
    from scheduler.contrib.django.models import JobRun, ScheduledJob
    from scheduler.events import JobSucceeded

    dj.job(Interval(seconds=1), id="quick")(quick)
    try:
        with override_settings(SCHEDULER={"store": "django"}):
            dj.reset()
            sched = dj.get_scheduler()
            done = threading.Event()
            sched.add_listener(lambda event: done.set(), [JobSucceeded])
            sched.start()
            assert done.wait(HANG_GUARD), "the job never succeeded"
            sched.shutdown()

        run = JobRun.objects.filter(job_id="quick").first()
        assert run is not None
        assert run.outcome == "succeeded"
        assert run.cancel_requested is False and run.coalesced == 0
        assert isinstance(run.scheduled_time, datetime)
        assert run.scheduled_time.tzinfo is not None
        assert run.scheduled_time <= datetime.now(timezone.utc)
        assert run.duration is not None
        assert ScheduledJob.objects.get(id="quick").last_fire == run.scheduled_time

        user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
        client = Client()
        client.force_login(user)
        changelist = client.get("/admin/scheduler/jobrun/")
        assert changelist.status_code == 200
        assert b"quick" in changelist.content
        assert b"/admin/scheduler/jobrun/add/" not in changelist.content
        assert client.get("/admin/scheduler/jobrun/add/").status_code == 403
        assert client.get("/admin/scheduler/scheduledjob/").status_code == 200
        detail = client.get(f"/admin/scheduler/jobrun/{run.pk}/change/")
        assert detail.status_code == 200  # a view, not a form
        post = client.post(f"/admin/scheduler/jobrun/{run.pk}/delete/", {"post": "yes"})
        assert post.status_code == 403
        assert JobRun.objects.filter(pk=run.pk).exists()
    finally:
        dj._specs[:] = [s for s in dj._specs if s.options.get("id") != "quick"]
        get_user_model().objects.filter(username="admin").delete()


def test_a_process_job_gets_django_set_up_in_its_worker() -> None:
    sched = dj.get_scheduler()
    sched.start()
    try:
        value, pid = sched.run_job("uses_db_in_worker").result(timeout=HANG_GUARD)
    finally:
        assert sched.shutdown(timeout=HANG_GUARD)
    assert value == 1 and pid != os.getpid()


def test_max_processes_setting() -> None:
    with override_settings(SCHEDULER={"max_processes": 3}):
        assert dj.get_scheduler().max_processes == 3
    with override_settings(SCHEDULER={"max_processes": 0}):
        dj.reset()
        with pytest.raises(ConfigurationError, match="max_processes"):
            dj.get_scheduler()


# -- where jobs come from (#9) -----------------------------------------------------------------


def test_models_match_the_migrations() -> None:
    out = io.StringIO()
    call_command("makemigrations", "scheduler", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_jobs_setting_imports_modules_outside_installed_apps(tmp_path: Path) -> None:
    (tmp_path / "projpkg").mkdir()
    (tmp_path / "projpkg" / "__init__.py").write_text("")
    (tmp_path / "projpkg" / "jobs.py").write_text(
        "from scheduler.contrib.django import job\n\n"
        "@job('0 4 * * *', id='from_project_package')\n"
        "def nightly() -> None: ...\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]),
        "SCHEDULER_TEST_DB": str(tmp_path / "db.sqlite3"),
        "SCHEDULER_TEST_JOBS": "projpkg.jobs",
    }
    proc = subprocess.run(
        [sys.executable, str(MANAGE), "scheduler_jobs", "list"],
        env=env, capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("from_project_package") for line in proc.stdout.splitlines())


def test_jobs_setting_naming_a_missing_module_fails_clearly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEDULER_TEST_DB": str(tmp_path / "db.sqlite3"),
        "SCHEDULER_TEST_JOBS": "nosuchpkg_xyz.jobs",
    }
    proc = subprocess.run(
        [sys.executable, str(MANAGE), "scheduler_jobs", "list"],
        env=env, capture_output=True, text=True, timeout=HANG_GUARD, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "SCHEDULER['jobs'] names 'nosuchpkg_xyz.jobs', which cannot be imported" in proc.stderr


@pytest.mark.parametrize("value", ["mysite.jobs", [""], [3]], ids=["str", "empty", "not-str"])
def test_bad_jobs_setting_is_a_check_error_with_a_hint_that_exists(value: Any) -> None:
    with override_settings(SCHEDULER={"jobs": value}):
        [error] = scheduler_errors()
    assert error.id == "scheduler.E001"
    assert "jobs must be a list of module names" in error.msg
    assert "docs/integrations.md" not in (error.hint or "")
    assert "README" in (error.hint or "")


def test_no_jobs_says_where_discovery_looked_and_names_a_stray_jobs_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "straysite").mkdir()
    (tmp_path / "straysite" / "__init__.py").write_text("")
    (tmp_path / "straysite" / "jobs.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(dj, "_specs", [])
    dj.reset()
    out = io.StringIO()
    call_command("scheduler_jobs", "list", stdout=out)
    text = out.getvalue()
    assert "(no jobs)" in text
    assert "'jobs' module of each installed app" in text
    assert "tests.contrib.django_project.testapp" in text
    assert "Found straysite.jobs, which is not in an installed app" in text
    assert "'jobs': ['straysite.jobs']" in text


# -- the health view (#12) -----------------------------------------------------------------------


def test_health_view_answers_200_while_running_and_503_when_not() -> None:
    from django.test import Client

    client = Client()
    response = client.get("/healthz/scheduler")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["the scheduler is not running (state: stopped)"]
    assert "no-cache" in response["Cache-Control"]
    dj.start()
    response = client.get("/healthz/scheduler")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert client.post("/healthz/scheduler").status_code == 405  # read-only


def test_health_view_of_a_web_process_reports_the_cluster(tmp_path: Path) -> None:
    """autostart off and a shared store (the recommended layout): the scheduler process's
    instance in the store is what makes it healthy."""
    from django.test import Client

    from scheduler import Scheduler

    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    runner = Scheduler(store=url)  # runscheduler's, in another process in production
    with override_settings(SCHEDULER={"store": url, "autostart": False}):
        dj.reset()
        client = Client()
        runner.start()
        try:
            response = client.get("/healthz/scheduler")
            assert response.status_code == 200
            assert response.json()["view"] == "cluster"
            assert [i["instance"] for i in response.json()["instances"]] == [str(runner.owner)]
        finally:
            runner.shutdown()
        response = client.get("/healthz/scheduler")
        assert response.status_code == 503
        assert response.json()["reasons"] == ["no live scheduler instance"]
        assert not dj.get_scheduler().running  # the view never starts it


def test_instances_with_the_django_store_and_in_the_admin(migrated: None) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from scheduler.contrib.django.models import SchedulerInstance

    try:
        with override_settings(SCHEDULER={"store": "django"}):
            dj.reset()
            sched = dj.start()
            (info,) = sched.instances()
            row = SchedulerInstance.objects.get(instance=info.instance)
            assert (row.host, row.pid, row.version) == (info.host, info.pid, info.version)
            assert row.last_heartbeat == info.last_heartbeat
            assert row.lease_expires == info.lease_expires
            user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
            client = Client()
            client.force_login(user)
            listing = client.get("/admin/scheduler/schedulerinstance/")
            assert listing.status_code == 200
            assert info.instance.encode() in listing.content
            assert client.get("/admin/scheduler/schedulerinstance/add/").status_code == 403
            sched.shutdown()
            assert not SchedulerInstance.objects.filter(instance=info.instance).exists()
    finally:
        get_user_model().objects.filter(username="admin").delete()
