"""The dashboard in the Django admin, in process (Django's test client): who may see it,
who may act, Django's CSRF check, the admin's "Scheduler" section and the links from the
read-only tables. The same pages in a real browser: tests/browser/test_dashboard.py.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

pytest.importorskip("django")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.contrib.django_project.settings")
os.environ.setdefault(
    "SCHEDULER_TEST_DB", os.path.join(tempfile.mkdtemp(prefix="scheduler-django-"), "db.sqlite3")
)

import django

django.setup()

from django.contrib.auth.models import Permission, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

import scheduler.contrib.django as dj  # noqa: E402
from scheduler.contrib.django.dashboard import ACTION_PERMISSION, dashboard_view  # noqa: E402

OVERVIEW = "/admin/scheduler/job/"
JOB = "/admin/scheduler/job/job"
ACTION = "/admin/scheduler/job/action"


@pytest.fixture(scope="module", autouse=True)
def migrated() -> None:
    call_command("migrate", verbosity=0, interactive=False)


@pytest.fixture(autouse=True)
def store_in_a_file(tmp_path: Any) -> Iterator[str]:
    url = f"sqlite:///{tmp_path}/jobs.db"
    with override_settings(SCHEDULER={"store": url}):
        dj.reset()
        yield url
        dj.reset()


@pytest.fixture
def users() -> Iterator[dict[str, User]]:
    # No passwords (the client logs them in directly): hashing one takes a while.
    made = {
        "outsider": User.objects.create_user("outsider"),
        "viewer": User.objects.create_user("viewer", is_staff=True),
        "operator": User.objects.create_user("operator", is_staff=True),
        "root": User.objects.create_superuser("root", email=None, password=None),
    }
    made["operator"].user_permissions.add(
        Permission.objects.get(content_type__app_label="scheduler", codename="change_job"))
    yield made
    User.objects.filter(username__in=made).delete()


def client_of(user: User | None, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def job_url(job_id: str) -> str:
    return f"{JOB}?{urlencode({'id': job_id})}"


def test_the_permission_the_actions_need_exists() -> None:
    assert ACTION_PERMISSION == "scheduler.change_job"
    perm = Permission.objects.get(content_type__app_label="scheduler", codename="change_job")
    assert perm.content_type.model == "job"


def test_an_anonymous_visitor_is_sent_to_the_admin_login() -> None:
    response = client_of(None).get(OVERVIEW)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_a_logged_in_user_who_is_not_staff_gets_403(users: dict[str, User]) -> None:
    client = client_of(users["outsider"])
    for url in (OVERVIEW, job_url("nightly"), "/admin/scheduler/job/runs"):
        response = client.get(url)
        assert response.status_code == 403
        assert b"staff" in response.content


def test_staff_see_the_pages_without_the_buttons(users: dict[str, User]) -> None:
    client = client_of(users["viewer"])
    overview = client.get(OVERVIEW)
    assert overview.status_code == 200
    page = overview.content.decode()
    assert "nightly" in page  # the test project's jobs.py
    assert "Run now" not in page
    assert "viewer (read-only)" in page
    assert overview["Content-Security-Policy"].startswith("default-src 'none'")
    assert client.get(job_url("nightly")).status_code == 200
    assert client.get("/admin/scheduler/job/runs").status_code == 200
    css = client.get("/admin/scheduler/job/static/dashboard.css")
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    assert client.get(job_url("no-such-job")).status_code == 404


@pytest.mark.parametrize("who", ["operator", "root"])
def test_the_change_job_permission_or_a_superuser_shows_the_buttons(
    users: dict[str, User], who: str
) -> None:
    page = client_of(users[who]).get(job_url("nightly")).content.decode()
    assert "Run now" in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert f"{who} (can act)" in page


def test_a_staff_user_without_the_permission_cannot_act(users: dict[str, User]) -> None:
    response = client_of(users["viewer"]).post(ACTION, {"job_id": "nightly", "action": "pause"})
    assert response.status_code == 403
    assert not dj.get_scheduler().get_job("nightly").paused


def test_a_post_without_the_csrf_token_is_refused_by_django(users: dict[str, User]) -> None:
    client = client_of(users["operator"], csrf=True)
    client.get(job_url("nightly"))  # sets the CSRF cookie
    response = client.post(ACTION, {"job_id": "nightly", "action": "pause", "back": "job"})
    assert response.status_code == 403
    assert b"CSRF" in response.content
    assert not dj.get_scheduler().get_job("nightly").paused


def test_the_operators_actions_carry_the_csrf_token_and_record_who_asked(
    users: dict[str, User],
) -> None:
    client = client_of(users["operator"], csrf=True)
    page = client.get(job_url("nightly")).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    response = client.post(ACTION, {"csrfmiddlewaretoken": token, "job_id": "nightly",
                                    "action": "pause", "back": "job"})
    assert response.status_code == 303
    assert response["Location"].startswith(job_url("nightly"))
    sched = dj.get_scheduler()
    assert sched.get_job("nightly").paused
    client.post(ACTION, {"csrfmiddlewaretoken": token, "job_id": "nightly", "action": "resume"})
    assert not sched.get_job("nightly").paused

    response = client.post(ACTION, {"csrfmiddlewaretoken": token, "job_id": "nightly",
                                    "action": "run", "back": "job"})
    assert response.status_code == 303
    store = sched.store
    assert store.queued_requests("nightly") == 1  # type: ignore[attr-defined]


def test_the_admin_has_a_scheduler_section_with_the_dashboard(users: dict[str, User]) -> None:
    index = client_of(users["viewer"]).get("/admin/").content.decode()
    assert 'href="/admin/scheduler/job/"' in index
    assert "Dashboard" in index


def test_the_read_only_tables_link_to_the_job_pages(users: dict[str, User]) -> None:
    with override_settings(SCHEDULER={"store": "django"}):
        dj.reset()
        sched = dj.get_scheduler()
        sched.add_job(print, "0 0 1 1 *", id="linked/job:1")
        sched.start()  # registers the jobs: the rows the admin's table reads
        sched.shutdown()
        changelist = client_of(users["root"]).get("/admin/scheduler/scheduledjob/")
        dj.reset()
    assert changelist.status_code == 200
    assert 'href="/admin/scheduler/job/job?id=linked%2Fjob%3A1"' in changelist.content.decode()


def test_an_unknown_route_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown dashboard route"):
        dashboard_view("/nope")
