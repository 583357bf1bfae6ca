"""The request handler and its WSGI adapter: access, CSRF, methods, headers, routing."""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import urlencode
from wsgiref.util import setup_testing_defaults

import pytest

from scheduler.dashboard import (
    CSP,
    Access,
    ActionUnavailable,
    Dashboard,
    JobView,
    Links,
    Request,
    Response,
    StatusView,
    wsgi_app,
)
from scheduler.exceptions import JobNotFound
from scheduler.stores import RunOutcome, RunRecord

from .facts import NOW, XSS, job, run, status

ACT = Access(view=True, act=True, user="alice")
VIEW = Access(view=True)


class FakeSource:
    """Facts from lists; actions recorded."""

    def __init__(self, jobs: list[JobView] | None = None, runs: list[RunRecord] | None = None):
        self._jobs = jobs if jobs is not None else [job()]
        self._runs = runs if runs is not None else [run()]
        self.actions: list[tuple[str, str, str | None]] = []
        self.unavailable = False

    def now(self) -> Any:
        return NOW

    def status(self) -> StatusView:
        return status()

    def jobs(self) -> list[JobView]:
        return self._jobs

    def job(self, job_id: str) -> JobView:
        for item in self._jobs:
            if item.id == job_id:
                return item
        raise JobNotFound(job_id)

    def runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        return [r for r in self._runs if job_id in (None, r.job_id)][:limit]

    def zones(self) -> dict[str, Any]:
        return {item.id: item.timezone for item in self._jobs}

    def _act(self, action: str, job_id: str, by: str | None) -> None:
        if self.unavailable:
            raise ActionUnavailable("this store cannot do that yet")
        self.job(job_id)
        self.actions.append((action, job_id, by))

    def pause(self, job_id: str, *, requested_by: str | None) -> None:
        self._act("pause", job_id, requested_by)

    def resume(self, job_id: str, *, requested_by: str | None) -> None:
        self._act("resume", job_id, requested_by)

    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        self._act("run", job_id, requested_by)
        return f"{job_id}@manual"


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def dash(source: FakeSource) -> Dashboard:
    return Dashboard(source, secret="s3cret", links=Links("/scheduler"))


def _get(dash: Dashboard, path: str = "/", access: Access = ACT, **kw: Any) -> Response:
    return dash.handle(Request(method="GET", path=path, access=access, **kw))


def _cookie(resp: Response) -> str:
    header = dict(resp.headers)["Set-Cookie"]
    match = re.match(r"scheduler_csrf=([0-9a-f]{32}); Path=/scheduler; HttpOnly; SameSite=Lax",
                     header)
    assert match, header
    return match.group(1)


def _post(dash: Dashboard, form: dict[str, str], cookie: str | None, access: Access = ACT,
          **kw: Any) -> Response:
    cookies = {"scheduler_csrf": cookie} if cookie else {}
    return dash.handle(Request(method="POST", path="/action", form=form, cookies=cookies,
                               access=access, remote_addr="10.0.0.7", **kw))


def _form(dash: Dashboard, cookie: str, action: str = "pause", job_id: str = "backup") -> dict[
        str, str]:
    return {"job_id": job_id, "action": action, "back": "job",
            "csrf_token": dash.csrf_token(cookie)}


@pytest.mark.parametrize("path", ["/", "/job", "/runs", "/action", "/nowhere"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_access_is_403_everywhere(dash: Dashboard, path: str, method: str) -> None:
    resp = dash.handle(Request(method=method, path=path, denied_hint="Set THE_HOOK."))
    assert resp.status == 403
    assert "Set THE_HOOK." in resp.text
    assert "Nightly backup" not in resp.text


def test_every_response_carries_the_strict_csp(dash: Dashboard, source: FakeSource) -> None:
    cookie = _cookie(_get(dash))
    responses = [_get(dash), _get(dash, "/job", query={"id": "backup"}), _get(dash, "/runs"),
                 _get(dash, "/static/dashboard.css"), _get(dash, "/nowhere"),
                 _get(dash, "/action"), dash.handle(Request(method="GET", path="/")),
                 _post(dash, _form(dash, cookie), cookie)]
    for resp in responses:
        headers = dict(resp.headers)
        assert headers["Content-Security-Policy"] == CSP, resp.status
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
    assert "script-src" not in CSP and "default-src 'none'" in CSP


def test_pages_render(dash: Dashboard) -> None:
    assert "Nightly backup" in _get(dash).text
    page = _get(dash, "/job", query={"id": "backup"})
    assert page.status == 200 and "Next fires" in page.text
    assert _get(dash, "/runs").status == 200
    css = _get(dash, "/static/dashboard.css")
    assert css.status == 200 and dict(css.headers)["Content-Type"].startswith("text/css")


def test_unknown_pages_and_jobs_are_404_and_escaped(dash: Dashboard) -> None:
    assert _get(dash, "/nowhere").status == 404
    resp = _get(dash, "/job", query={"id": XSS})
    assert resp.status == 404 and XSS not in resp.text


def test_actions_refuse_get(dash: Dashboard, source: FakeSource) -> None:
    resp = _get(dash, "/action", query={"job_id": "backup", "action": "pause"})
    assert resp.status == 405 and ("Allow", "POST") in resp.headers
    assert source.actions == []
    assert dash.handle(Request(method="POST", path="/", access=ACT)).status == 405


def test_a_post_without_the_csrf_token_is_refused(dash: Dashboard, source: FakeSource) -> None:
    cookie = _cookie(_get(dash))
    form = _form(dash, cookie)
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert _post(dash, no_token, cookie).status == 403
    assert _post(dash, form, None).status == 403  # no cookie
    assert _post(dash, {**form, "csrf_token": "0" * 64}, cookie).status == 403
    other = _cookie(_get(dash))  # another visitor's token does not fit this cookie
    assert _post(dash, _form(dash, other), cookie).status == 403
    forged = Dashboard(FakeSource(), secret="other-secret")
    assert _post(dash, _form(forged, cookie), cookie).status == 403
    assert source.actions == []
    assert "CSRF" in _post(dash, no_token, cookie).text


def test_a_post_from_another_origin_is_refused(dash: Dashboard, source: FakeSource) -> None:
    cookie = _cookie(_get(dash))
    form = _form(dash, cookie)
    evil = _post(dash, form, cookie, host="ops.example", origin="https://evil.example")
    assert evil.status == 403
    assert _post(dash, form, cookie, host="ops.example", origin="null").status == 403
    ok = _post(dash, form, cookie, host="ops.example", origin="https://ops.example")
    assert ok.status == 303
    assert source.actions == [("pause", "backup", "alice")]


@pytest.mark.parametrize("action", ["run", "pause", "resume"])
def test_an_action_with_the_token_is_taken_and_redirects(dash: Dashboard, source: FakeSource,
                                                         action: str) -> None:
    cookie = _cookie(_get(dash))
    resp = _post(dash, _form(dash, cookie, action), cookie)
    assert resp.status == 303
    assert dict(resp.headers)["Location"] == f"/scheduler/job?id=backup&done={action}"
    assert source.actions == [(action, "backup", "alice")]
    back = _get(dash, "/job", query={"id": "backup", "done": action})
    assert 'class="notice"' in back.text


def test_requested_by_is_the_remote_address_without_a_user(dash: Dashboard,
                                                           source: FakeSource) -> None:
    cookie = _cookie(_get(dash))
    form = {**_form(dash, cookie, "run"), "back": "overview"}
    resp = _post(dash, form, cookie, access=Access(view=True, act=True))
    assert dict(resp.headers)["Location"] == "/scheduler/?done=run"
    assert source.actions == [("run", "backup", "10.0.0.7")]


def test_viewers_may_not_act(dash: Dashboard, source: FakeSource) -> None:
    cookie = _cookie(_get(dash))
    resp = _post(dash, _form(dash, cookie), cookie, access=VIEW)
    assert resp.status == 403 and "look but not act" in resp.text
    assert "Run now" not in _get(dash, access=VIEW).text
    assert source.actions == []


def test_allow_actions_false_overrides_the_hook(source: FakeSource) -> None:
    dash = Dashboard(source, secret="s", allow_actions=False)
    page = _get(dash)
    assert "Run now" not in page.text
    cookie = page.headers[-1][1].split("=")[1].split(";")[0]
    resp = _post(dash, _form(dash, cookie), cookie)
    assert resp.status == 403 and "--allow-actions" in resp.text
    assert source.actions == []


def test_bad_actions(dash: Dashboard, source: FakeSource) -> None:
    cookie = _cookie(_get(dash))
    assert _post(dash, _form(dash, cookie, "delete"), cookie).status == 400
    missing = _post(dash, _form(dash, cookie, job_id=XSS), cookie)
    assert missing.status == 404 and XSS not in missing.text
    source.unavailable = True
    assert _post(dash, _form(dash, cookie), cookie).status == 501


def test_the_cookie_is_set_once(dash: Dashboard) -> None:
    cookie = _cookie(_get(dash))
    again = _get(dash, cookies={"scheduler_csrf": cookie})
    assert "Set-Cookie" not in dict(again.headers)
    assert f'value="{dash.csrf_token(cookie)}"' in again.text
    assert "Set-Cookie" in dict(_get(dash, cookies={"scheduler_csrf": "junk"}).headers)
    secure = _get(dash, secure=True)
    assert dict(secure.headers)["Set-Cookie"].endswith("; Secure")


def test_a_framework_that_checks_csrf_itself(dash: Dashboard, source: FakeSource) -> None:
    page = _get(dash, framework_csrf=("csrfmiddlewaretoken", "djangotoken"))
    assert 'name="csrfmiddlewaretoken" value="djangotoken"' in page.text
    assert "Set-Cookie" not in dict(page.headers)
    resp = _post(dash, {"job_id": "backup", "action": "pause"}, None,
                 framework_csrf=("csrfmiddlewaretoken", "djangotoken"))
    assert resp.status == 303 and source.actions == [("pause", "backup", "alice")]


def test_the_runs_page_pages_and_filters() -> None:
    runs = [run("a", minutes_ago=i, outcome=RunOutcome.FAILED if i % 3 == 0 else
                RunOutcome.SUCCEEDED) for i in range(120)]
    dash = Dashboard(FakeSource(runs=runs), secret="s")
    first = _get(dash, "/runs")
    assert first.text.count("<tr><td><a href=") == 50 and 'rel="next"' in first.text
    last = _get(dash, "/runs", query={"page": "3"})
    assert last.text.count("<tr><td><a href=") == 20 and 'rel="next"' not in last.text
    failed = _get(dash, "/runs", query={"outcome": "failed"})
    assert failed.text.count("o-failed\">failed") == 40 and 'rel="next"' not in failed.text
    assert "among the newest 1000 runs" in failed.text
    bogus = _get(dash, "/runs", query={"outcome": "<x>", "page": "-4"})
    assert bogus.status == 200 and "page 1" in bogus.text


def _wsgi(app: Any, path: str, method: str = "GET", body: bytes = b"", **env: str) -> tuple[
        str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method, **env}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    seen: dict[str, Any] = {}
    out = b"".join(app(environ, lambda status, headers: seen.update(s=status, h=headers)))
    return seen["s"], dict(seen["h"]), out


def test_the_wsgi_app(source: FakeSource) -> None:
    dash = Dashboard(source, secret="s")
    app = wsgi_app(dash, lambda environ: "actions" if environ.get("HTTP_X_USER") else False,
                   hint="ask the admin")
    status_line, _, body = _wsgi(app, "/")
    assert status_line == "403 Forbidden" and b"ask the admin" in body
    status_line, headers, body = _wsgi(app, "/", HTTP_X_USER="bob")
    assert status_line == "200 OK" and b"Nightly backup" in body
    cookie = headers["Set-Cookie"].split(";")[0]
    form = urlencode({"job_id": "backup", "action": "run",
                      "csrf_token": dash.csrf_token(cookie.split("=")[1])}).encode()
    status_line, headers, _ = _wsgi(app, "/action", "POST", form, HTTP_X_USER="bob",
                                    HTTP_COOKIE=cookie, REMOTE_ADDR="192.0.2.1")
    assert status_line == "303 See Other" and headers["Location"] == "/?done=run"
    assert source.actions == [("run", "backup", "192.0.2.1")]
    _, _, head = _wsgi(app, "/", "HEAD", HTTP_X_USER="bob")
    assert head == b""


def test_the_wsgi_app_under_a_script_name(source: FakeSource) -> None:
    app = wsgi_app(Dashboard(source, secret="s"), lambda environ: True)
    _, headers, body = _wsgi(app, "/", SCRIPT_NAME="/ops")
    assert b'href="/ops/job?id=backup"' in body
    assert "Path=/ops;" in headers["Set-Cookie"]


@pytest.mark.parametrize(
    ("value", "view", "act"),
    [(True, True, False), ("actions", True, True), (False, False, False), (None, False, False),
     ("", False, False), (object(), True, False)],
)
def test_what_an_auth_hook_may_return(value: object, view: bool, act: bool) -> None:
    access = Access.from_hook(value)
    assert (access.view, access.act) == (view, act)
    assert Access.from_hook(ACT) is ACT


@pytest.mark.parametrize("value", ["action", "view", "True"])
def test_a_misspelt_answer_of_the_hook_is_an_error(value: str) -> None:
    from scheduler.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=r"return True .* 'actions'"):
        Access.from_hook(value)


def test_a_store_that_cannot_be_read_is_503(source: FakeSource) -> None:
    from scheduler.exceptions import StoreUnavailable

    def down(*args: Any) -> Any:
        raise StoreUnavailable(f"cannot connect to {XSS}")

    source.jobs = down  # type: ignore[method-assign]
    source.runs = down  # type: ignore[method-assign]
    dash = Dashboard(source, secret="s")
    for path in ("/", "/runs"):
        resp = _get(dash, path)
        assert resp.status == 503 and "cannot connect to &lt;script&gt;" in resp.text
        assert dict(resp.headers)["Content-Security-Policy"] == CSP


def test_the_stylesheet_needs_no_access(dash: Dashboard) -> None:
    resp = dash.handle(Request(method="GET", path="/static/dashboard.css"))
    assert resp.status == 200 and b"svg .bar" in resp.body
    assert dash.handle(Request(method="POST", path="/static/dashboard.css")).status == 403
