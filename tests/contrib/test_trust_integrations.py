"""The trust rule through the integrations (#10 item 1): ``SCHEDULER_ALLOWED_MODULES``,
``"allowed_modules"`` and the ``task`` decorators."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.exceptions import ConfigurationError, InvalidJob


def reminder() -> None:
    """A function allowed for dynamic jobs."""


def other() -> None:
    pass


# -- Flask ----------------------------------------------------------------------------------


def test_flask_allowed_modules_and_task(tmp_path: Path) -> None:
    flask = pytest.importorskip("flask")
    from scheduler.contrib.flask import FlaskScheduler

    ext = FlaskScheduler(autostart=False)
    assert ext.task(reminder) is reminder  # before init_app: reaches the app's scheduler
    app = flask.Flask("trust")
    app.config["SCHEDULER_STORE"] = f"sqlite:///{tmp_path / 'jobs.db'}"
    app.config["SCHEDULER_ALLOWED_MODULES"] = ["tests.contrib.test_trust_integrations"]
    ext.init_app(app)
    sched = ext.get_scheduler(app)
    assert sched._allowed.modules == ("tests.contrib.test_trust_integrations",)
    with sched:
        assert sched.add_job(reminder, "* * * * *").dynamic
        assert sched.add_job(other, "* * * * *").dynamic  # under allowed_modules

    strict = FlaskScheduler(autostart=False)
    strict.task(reminder)
    app2 = flask.Flask("trust2")
    app2.config["SCHEDULER_STORE"] = f"sqlite:///{tmp_path / 'jobs2.db'}"
    strict.init_app(app2)
    with strict.get_scheduler(app2) as sched2:
        assert sched2.add_job(reminder, "* * * * *").dynamic
        with pytest.raises(InvalidJob, match=r"@sched\.task"):
            sched2.add_job(other, "* * * * *")


def test_flask_setting_is_validated() -> None:
    flask = pytest.importorskip("flask")
    from scheduler.contrib.flask import FlaskScheduler

    app = flask.Flask("bad")
    app.config["SCHEDULER_ALLOWED_MODULES"] = "myapp.jobs"  # a string, not a list
    with pytest.raises(ConfigurationError, match="SCHEDULER_ALLOWED_MODULES"):
        FlaskScheduler(app, autostart=False)
    with pytest.raises(InvalidJob, match="lambda"):
        FlaskScheduler(autostart=False).task(lambda: None)


# -- Django ---------------------------------------------------------------------------------


@pytest.fixture
def dj() -> Iterator[object]:
    pytest.importorskip("django")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_project.settings")
    os.environ.setdefault(
        "SCHEDULER_TEST_DB",
        os.path.join(tempfile.mkdtemp(prefix="scheduler-django-"), "db.sqlite3"),
    )
    import django

    django.setup()
    import scheduler.contrib.django as module

    module.reset()
    tasks = list(module._tasks)
    yield module
    module.reset()
    module._tasks[:] = tasks


def test_django_allowed_modules_and_task(dj, tmp_path: Path) -> None:
    from django.core import checks
    from django.test import override_settings

    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    with override_settings(SCHEDULER={"store": store, "allowed_modules": ["myapp.jobs"]}):
        assert dj.get_scheduler()._allowed.modules == ("myapp.jobs",)
    dj.reset()
    assert dj.task(reminder) is reminder
    with override_settings(SCHEDULER={"store": store}):
        sched = dj.get_scheduler()
        with sched:
            assert sched.add_job(reminder, "* * * * *").dynamic
            with pytest.raises(InvalidJob, match="allowed_modules"):
                sched.add_job(other, "* * * * *")
    with override_settings(SCHEDULER={"allowed_modules": "myapp.jobs"}):
        errors = [m for m in checks.run_checks() if m.id and m.id.startswith("scheduler.")]
        assert errors and "allowed_modules" in errors[0].msg
