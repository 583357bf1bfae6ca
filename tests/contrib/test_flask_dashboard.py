"""The dashboard mounted in a Flask app: SCHEDULER_DASHBOARD and SCHEDULER_DASHBOARD_AUTH."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

flask = pytest.importorskip("flask")

from flask import Flask, g  # noqa: E402

from scheduler.contrib.flask import FlaskScheduler  # noqa: E402
from scheduler.dashboard import CSP, Access  # noqa: E402
from scheduler.exceptions import ConfigurationError  # noqa: E402

XSS = "<script>alert(1)</script>"


def nightly() -> None:
    return None


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Apps whose schedulers are never started (SCHEDULER_AUTOSTART False): a web process
    showing the jobs another process runs."""

    def factory(**config: Any) -> Flask:
        ext = FlaskScheduler()
        ext.add_job(nightly, "30 2 * * *", id="nightly", name=f"Nightly {XSS}")
        app = Flask("dash_app")
        app.config.update({"SCHEDULER_AUTOSTART": False, "TESTING": True,
                           "SECRET_KEY": "test-key", **config})
        ext.init_app(app)
        return app

    return factory


def test_off_by_default(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.test_client().get("/scheduler/").status_code == 404


def test_without_the_auth_callable_every_request_is_403_with_the_how_to(
        make_app: Callable[..., Flask]) -> None:
    client = make_app(SCHEDULER_DASHBOARD="/scheduler").test_client()
    for resp in (client.get("/scheduler/"), client.get("/scheduler/job?id=nightly"),
                 client.post("/scheduler/action", data={"job_id": "nightly", "action": "run"})):
        assert resp.status_code == 403
        assert b"SCHEDULER_DASHBOARD_AUTH" in resp.data
        assert b"Nightly" not in resp.data
        assert resp.headers["Content-Security-Policy"] == CSP


def test_a_viewer_sees_the_pages_without_buttons(make_app: Callable[..., Flask]) -> None:
    client = make_app(SCHEDULER_DASHBOARD="/scheduler",
                      SCHEDULER_DASHBOARD_AUTH=lambda request: True).test_client()
    resp = client.get("/scheduler/")
    assert resp.status_code == 200 and resp.headers["Content-Security-Policy"] == CSP
    html = resp.get_data(as_text=True)
    assert "at 02:30 every day, UTC" in html
    assert XSS not in html and "&lt;script&gt;" in html
    assert "Run now" not in html
    assert client.get("/scheduler/static/dashboard.css").status_code == 200
    assert client.get("/scheduler/runs").status_code == 200
    token = re.search(r"scheduler_csrf=(\w+)", resp.headers["Set-Cookie"])
    assert token is not None
    denied = client.post("/scheduler/action", data={"job_id": "nightly", "action": "pause"})
    assert denied.status_code == 403


def test_an_operator_pauses_and_resumes_with_the_csrf_token(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(SCHEDULER_DASHBOARD="/ops/", SCHEDULER_DASHBOARD_AUTH=lambda r: "actions")
    client = app.test_client()
    page = client.get("/ops/job?id=nightly").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert token is not None
    assert client.post("/ops/action", data={"job_id": "nightly", "action": "pause"}
                       ).status_code == 403  # no token
    assert client.get("/ops/action").status_code == 405
    resp = client.post("/ops/action", data={"job_id": "nightly", "action": "pause",
                                            "back": "job", "csrf_token": token.group(1)})
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/ops/job?id=nightly&done=pause"
    assert app.extensions["scheduler"].scheduler.get_job("nightly").paused
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Paused:" in page and "Resume" in page


def test_the_auth_hook_names_who_asked(make_app: Callable[..., Flask],
                                       caplog: pytest.LogCaptureFixture) -> None:
    def auth(request: Any) -> Access:
        return Access(view=True, act=True, user=g.get("user", "nobody"))

    app = make_app(SCHEDULER_DASHBOARD="/scheduler", SCHEDULER_DASHBOARD_AUTH=auth)

    @app.before_request
    def login() -> None:
        g.user = "alice"

    client = app.test_client()
    page = client.get("/scheduler/").get_data(as_text=True)
    assert "alice (can act)" in page
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert token is not None
    with caplog.at_level("INFO", logger="scheduler.dashboard"):
        client.post("/scheduler/action", data={"job_id": "nightly", "action": "pause",
                                               "csrf_token": token.group(1)})
    assert any(getattr(r, "requested_by", None) == "alice" for r in caplog.records)


def test_tokens_hold_across_workers_sharing_the_secret_key(
        make_app: Callable[..., Flask]) -> None:
    config = {"SCHEDULER_DASHBOARD": "/scheduler",
              "SCHEDULER_DASHBOARD_AUTH": lambda r: "actions"}
    one, two = make_app(**config).test_client(), make_app(**config).test_client()
    page = one.get("/scheduler/")
    cookie = re.search(r"scheduler_csrf=(\w+)", page.headers["Set-Cookie"])
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.get_data(as_text=True))
    assert cookie is not None and token is not None
    two.set_cookie("scheduler_csrf", cookie.group(1), path="/scheduler")
    resp = two.post("/scheduler/action", data={"job_id": "nightly", "action": "pause",
                                               "csrf_token": token.group(1)})
    assert resp.status_code == 303


@pytest.mark.parametrize("value", ["scheduler", "/", "/a b", 5])
def test_a_bad_path_is_a_configuration_error(make_app: Callable[..., Flask],
                                             value: object) -> None:
    with pytest.raises(ConfigurationError, match="SCHEDULER_DASHBOARD must be a URL path"):
        make_app(SCHEDULER_DASHBOARD=value)


def test_a_bad_auth_is_a_configuration_error(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigurationError, match="SCHEDULER_DASHBOARD_AUTH must be a callable"):
        make_app(SCHEDULER_DASHBOARD="/s", SCHEDULER_DASHBOARD_AUTH="actions")


def test_a_misspelt_setting_names_the_right_one(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigurationError, match="SCHEDULER_DASHBOARD_AUTH"):
        make_app(SCHEDULER_DASHBOARD_AUHT=lambda r: True)


def test_a_secret_key_set_after_init_app_is_used(make_app: Callable[..., Flask],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    config = {"SCHEDULER_DASHBOARD": "/scheduler", "SCHEDULER_DASHBOARD_AUTH": lambda r: True,
              "SECRET_KEY": None}
    late, none = make_app(**config), make_app(**config)
    late.config["SECRET_KEY"] = "set-by-the-factory-later"
    with caplog.at_level("WARNING", logger="scheduler.contrib.flask"):
        assert late.test_client().get("/scheduler/").status_code == 200
        assert not [r for r in caplog.records if "SECRET_KEY" in r.getMessage()]
        none.test_client().get("/scheduler/")
        none.test_client().get("/scheduler/runs")
    warned = [r for r in caplog.records if "SECRET_KEY" in r.getMessage()]
    assert len(warned) == 1  # once per app
