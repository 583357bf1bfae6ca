"""Requests to pages: routing, access, CSRF, security headers; and the WSGI adapter.

:class:`Dashboard` turns a framework-neutral :class:`Request` into a :class:`Response`; the
standalone server (:func:`wsgi_app`, served by ``wsgiref``), the Flask mount and the Django
views each build the Request from their own and send the Response back.

Routes, relative to the mount point::

    GET  /                      overview (?outcome=failed&tag=billing)
    GET  /job?id=<job id>       job page
    GET  /runs                  runs (?outcome=failed&page=2)
    POST /action                form: job_id, action=run|pause|resume, back=job|overview
    GET  /static/dashboard.css  the stylesheet

Security: the visitor's :class:`Access` comes from the embedding's auth hook (no access: 403
on every page; the stylesheet alone is public, so the 403 page is styled). Actions are POST
only (a GET is 405), need ``Access.act`` and a CSRF token: the form carries ``HMAC(secret,
cookie)`` where the cookie is a random value set on the first page (a double-submit cookie
that cannot be forged without the server's secret); an ``Origin`` header naming another host
is refused as well. A framework that checks CSRF itself (Django) passes
``Request.framework_csrf`` and this check is skipped. Every response carries the strict CSP
(:data:`CSP`) and ``nosniff``/``DENY`` framing headers.

Threads and state: a Dashboard keeps its source and secret only; requests may arrive on
several threads at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from ..exceptions import ConfigurationError, JobNotFound, SchedulerError
from ._data import ActionUnavailable, DataSource
from ._render import (
    OUTCOME_FILTERS,
    Links,
    Page,
    render_error,
    render_job,
    render_overview,
    render_runs,
)

if TYPE_CHECKING:
    from ..stores import RunRecord

__all__ = ["CSP", "Access", "Dashboard", "Request", "Response", "wsgi_app"]

logger = logging.getLogger("scheduler.dashboard")

#: no script at all; styles and images only from this origin (and data: images)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
CSRF_COOKIE = "scheduler_csrf"
CSRF_FIELD = "csrf_token"
PER_PAGE = 50
#: the newest runs the runs page filters through
RUNS_WINDOW = 1000


@dataclass(frozen=True, slots=True)
class Access:
    """What the auth hook allows: view the pages, also act, and who it is (for
    ``requested_by`` and the page header).

    An auth hook may return ``True`` (view), ``"actions"`` (view and act), an Access, or
    anything false (no access): see :meth:`from_hook`.
    """

    view: bool = False
    act: bool = False
    user: str | None = None

    @classmethod
    def from_hook(cls, value: object, user: str | None = None) -> Access:
        """Read what an auth hook returned: an Access as is; ``"actions"``: view and act;
        another true value: view; a false one: nothing.

        :raises ConfigurationError: another string (``"action"``, ``"view"``): a typo in
            the hook must not quietly grant or refuse
        """
        if isinstance(value, Access):
            return value
        if isinstance(value, str) and value:
            if value != "actions":
                raise ConfigurationError(
                    f"the dashboard's auth hook returned {value!r}; return True (may see the "
                    f"pages), 'actions' (may also act), an Access, or False"
                )
            return cls(view=True, act=True, user=user)
        return cls(view=True, user=user) if value else cls()


DENIED = Access()


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One request as the dashboard needs it.

    :param path: relative to the mount point, starting with ``/``
    :param framework_csrf: ``(field name, token)`` when the framework checks CSRF on POSTs
        itself (Django); the forms then carry that field and this check is skipped
    :param denied_hint: what to say on the 403 page (how to configure access)
    """

    def links_or(self, default: Links) -> Links:
        return self.links if self.links is not None else default

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    access: Access = DENIED
    remote_addr: str | None = None
    host: str | None = None
    origin: str | None = None
    framework_csrf: tuple[str, str] | None = None
    denied_hint: str = ""
    #: over HTTPS (the CSRF cookie gets ``Secure``)
    secure: bool = False
    #: the URLs for this request (a framework mounted under a script root); else the
    #: Dashboard's
    links: Links | None = None


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        from http import HTTPStatus

        return f"{self.status} {HTTPStatus(self.status).phrase}"

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def _css() -> bytes:
    return resources.files(__package__).joinpath("static").joinpath("dashboard.css").read_bytes()


class Dashboard:
    """The dashboard over one data source.

    :param source: a :class:`~scheduler.dashboard.SchedulerSource` or
        :class:`~scheduler.dashboard.StoreSource`
    :param secret: the CSRF key (bytes or text); by default random per process, which is
        right for one process (the standalone server) but not for several workers behind
        one address: give them one secret (Flask passes its ``SECRET_KEY``)
    :param links: the URLs of the pages (the mount point)
    :param allow_actions: False turns every action off whatever the auth hook says
    """

    def __init__(
        self,
        source: DataSource,
        *,
        secret: bytes | str | None = None,
        links: Links | None = None,
        allow_actions: bool = True,
        title: str = "Scheduler",
        secure_cookie: bool = False,
    ) -> None:
        self.source = source
        raw = secret if secret is not None else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"scheduler-dashboard-csrf:" + (
            raw.encode() if isinstance(raw, str) else raw)).digest()
        self.links = links or Links()
        self.allow_actions = allow_actions
        self.title = title
        self.secure_cookie = secure_cookie

    # -- CSRF ------------------------------------------------------------------------------
    def csrf_token(self, cookie: str) -> str:
        """The form token that goes with the visitor's CSRF cookie."""
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, req: Request) -> bool:
        if req.framework_csrf is not None:
            return True
        cookie = req.cookies.get(CSRF_COOKIE, "")
        sent = req.form.get(CSRF_FIELD, "")
        return bool(cookie) and bool(sent) and hmac.compare_digest(
            sent, self.csrf_token(cookie))

    def _same_origin(self, req: Request) -> bool:
        """No Origin header (an older browser, a script): the token alone decides. One
        that names another host (or ``null``, a sandboxed page) is refused."""
        if not req.origin:
            return True
        if req.origin == "null" or not req.host:
            return False
        return urlsplit(req.origin).netloc.lower() == req.host.lower()

    # -- responses -------------------------------------------------------------------------
    def _page(self, req: Request, cookie: str) -> Page:
        field_name, token = req.framework_csrf or (CSRF_FIELD, self.csrf_token(cookie))
        notice = _NOTICES.get(req.query.get("done", ""))
        return Page(
            now=self.source.now(), links=req.links_or(self.links), user=req.access.user,
            can_act=req.access.act and self.allow_actions, csrf_field=field_name,
            csrf_token=token, notice=notice, title=self.title,
        )

    def _respond(self, status: int, body: str | bytes, req: Request, new_cookie: str | None,
                 content_type: str = "text/html; charset=utf-8",
                 extra: Iterable[tuple[str, str]] = ()) -> Response:
        headers = [("Content-Type", content_type), ("Cache-Control", "no-store"),
                   *SECURITY_HEADERS, *extra]
        if new_cookie is not None:
            # Lax, not Strict: a visit by a link from elsewhere would come without the
            # cookie and get a new one, spoiling the forms of tabs already open. The token,
            # not SameSite, is what stops a forged POST.
            path = req.links_or(self.links).prefix or "/"
            secure = "; Secure" if self.secure_cookie or req.secure else ""
            headers.append(("Set-Cookie", f"{CSRF_COOKIE}={new_cookie}; Path={path}; "
                                          f"HttpOnly; SameSite=Lax{secure}"))
        data = body.encode("utf-8") if isinstance(body, str) else body
        return Response(status, headers, data)

    def _error(self, req: Request, cookie: str, new: str | None, status: int, heading: str,
               message: str, hint: str = "", extra: Iterable[tuple[str, str]] = ()) -> Response:
        page = self._page(req, cookie)
        return self._respond(status, render_error(page, heading, message, hint), req, new,
                             extra=extra)

    def handle(self, req: Request) -> Response:
        """Answer one request (see the module docstring for the routes)."""
        cookie = req.cookies.get(CSRF_COOKIE, "")
        new = None
        if req.framework_csrf is None and not _valid_cookie(cookie):
            cookie = new = secrets.token_hex(16)
        path = req.path or "/"
        if path == "/static/dashboard.css" and req.method in ("GET", "HEAD"):
            # the stylesheet holds nothing private: the 403 page is styled too
            return self._respond(200, _css(), req, None, "text/css; charset=utf-8",
                                 extra=[("Cache-Control", "max-age=3600")])
        if not req.access.view:
            return self._error(req, cookie, new, 403, "Forbidden",
                               "You are not allowed to see the scheduler dashboard.",
                               req.denied_hint)
        if path == "/action":
            if req.method != "POST":
                return self._error(req, cookie, new, 405, "Method not allowed",
                                   "Actions are POST requests, sent by the buttons.",
                                   extra=[("Allow", "POST")])
            return self._action(req, cookie, new)
        if req.method not in ("GET", "HEAD"):
            return self._error(req, cookie, new, 405, "Method not allowed",
                               "Pages are read with GET.", extra=[("Allow", "GET, HEAD")])
        try:
            body = self._get(path, req, cookie)
        except JobNotFound as exc:
            return self._error(req, cookie, new, 404, "No such job", str(exc))
        except _NotFound:
            return self._error(req, cookie, new, 404, "Not found", f"No page at {path}.")
        except SchedulerError as exc:  # the store is down or returned what it cannot read
            logger.warning("dashboard page %s failed: %s", path, exc,
                           extra={"path": path, "error": str(exc)})
            return self._error(req, cookie, new, 503, "The store cannot be read", str(exc),
                               "The page shows again when the store answers.",
                               extra=[("Retry-After", "10")])
        return self._respond(200, body, req, new)

    def _get(self, path: str, req: Request, cookie: str) -> str:
        page = self._page(req, cookie)
        if path == "/":
            jobs = self.source.jobs()
            return render_overview(self.source.status(), jobs, page,
                                   outcome=req.query.get("outcome") or None,
                                   tag=req.query.get("tag") or None)
        if path == "/job":
            job = self.source.job(req.query.get("id", ""))
            return render_job(job, self.source.runs(job.id, PER_PAGE), page)
        if path == "/runs":
            outcome = req.query.get("outcome") or None
            if outcome not in OUTCOME_FILTERS:
                outcome = None
            page_no = _positive(req.query.get("page"))
            runs, more = self._runs_page(outcome, page_no)
            return render_runs(runs, page, outcome=outcome, page_no=page_no, has_more=more,
                               zones=self.source.zones(),
                               window=RUNS_WINDOW if outcome else None)
        raise _NotFound(path)

    def _runs_page(self, outcome: str | None, page_no: int) -> tuple[list[RunRecord], bool]:
        start = (page_no - 1) * PER_PAGE
        if outcome is None:
            runs = self.source.runs(None, min(start + PER_PAGE + 1, RUNS_WINDOW + 1))
        else:
            runs = [r for r in self.source.runs(None, RUNS_WINDOW)
                    if r.outcome is not None and r.outcome.value == outcome]
        return runs[start:start + PER_PAGE], len(runs) > start + PER_PAGE

    def _action(self, req: Request, cookie: str, new: str | None) -> Response:
        if not (req.access.act and self.allow_actions):
            why = ("Actions are turned off (start with --allow-actions)."
                   if not self.allow_actions else "You may look but not act.")
            return self._error(req, cookie, new, 403, "Forbidden", why)
        if not self._same_origin(req) or not self._csrf_ok(req):
            return self._error(req, cookie, new, 403, "Forbidden",
                               "The form's CSRF token is missing or wrong; reload the page "
                               "and try again.")
        job_id, action = req.form.get("job_id", ""), req.form.get("action", "")
        by = req.access.user or req.remote_addr
        try:
            if action == "run":
                key = self.source.request_run(job_id, requested_by=by)
                logger.info("run of %s requested from the dashboard by %s (%s)", job_id, by,
                            key, extra={"job_id": job_id, "requested_by": by, "run_id": key})
            elif action == "pause":
                self.source.pause(job_id, requested_by=by)
            elif action == "resume":
                self.source.resume(job_id, requested_by=by)
            else:
                return self._error(req, cookie, new, 400, "Bad request",
                                   "Unknown action: use run, pause or resume.")
        except JobNotFound as exc:
            return self._error(req, cookie, new, 404, "No such job", str(exc))
        except ActionUnavailable as exc:
            return self._error(req, cookie, new, 501, "Not available", str(exc))
        except SchedulerError as exc:
            return self._error(req, cookie, new, 503, "The action failed", str(exc))
        links = req.links_or(self.links)
        back = links.job(job_id) if req.form.get("back") == "job" else links.overview()
        sep = "&" if "?" in back else "?"
        return self._respond(303, "", req, new, extra=[("Location", f"{back}{sep}done={action}")])


_NOTICES = {
    "run": "Run requested: an instance running the scheduler will start it shortly.",
    "pause": "Paused: no instance will start it until it is resumed.",
    "resume": "Resumed: it fires again from its next scheduled time.",
}


class _NotFound(Exception):
    pass


def _valid_cookie(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _positive(text: str | None) -> int:
    try:
        return max(1, int(text or "1"))
    except ValueError:
        return 1


# -- WSGI --------------------------------------------------------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: the auth hook of the WSGI app: environ -> True, "actions", an Access, or False
EnvironAuth = Callable[[dict[str, Any]], object]


def _cookies(header: str) -> dict[str, str]:
    from http.cookies import CookieError, SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


MAX_FORM = 64 * 1024


def request_from_environ(environ: dict[str, Any], access: Access, hint: str = "",
                         links: Links | None = None) -> Request:
    """A :class:`Request` from a WSGI environ (``PATH_INFO`` relative to the mount;
    ``SCRIPT_NAME`` is put before ``links``' prefix)."""
    script = environ.get("SCRIPT_NAME", "").rstrip("/")
    method = environ.get("REQUEST_METHOD", "GET").upper()
    form: dict[str, str] = {}
    if method == "POST":
        try:
            length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_FORM)
        except ValueError:
            length = 0
        raw = environ["wsgi.input"].read(length) if length else b""
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
    return Request(
        method=method, path=environ.get("PATH_INFO") or "/",
        query=dict(parse_qsl(environ.get("QUERY_STRING", ""))), form=form,
        cookies=_cookies(environ.get("HTTP_COOKIE", "")), access=access,
        remote_addr=environ.get("REMOTE_ADDR"), host=environ.get("HTTP_HOST"),
        origin=environ.get("HTTP_ORIGIN"), denied_hint=hint,
        secure=environ.get("wsgi.url_scheme") == "https",
        links=Links(script + links.prefix) if script and links is not None else None,
    )


def wsgi_app(dashboard: Dashboard, auth: EnvironAuth, *, hint: str = "") -> WSGIApp:
    """A WSGI application serving ``dashboard``; ``auth(environ)`` decides access."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        access = Access.from_hook(auth(environ))
        resp = dashboard.handle(request_from_environ(environ, access, hint, dashboard.links))
        start_response(resp.status_line, resp.headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [resp.body]

    return app
