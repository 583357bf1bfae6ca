"""The dashboard mounted in a Flask app: ``SCHEDULER_DASHBOARD = "/scheduler"``.

``SCHEDULER_DASHBOARD`` (a path such as ``"/scheduler"``; None, the default, mounts
nothing) and ``SCHEDULER_DASHBOARD_AUTH``: a callable taking the Flask ``request`` that
returns True (may see the pages), ``"actions"`` (may also run, pause and resume jobs), an
:class:`~scheduler.dashboard.Access` (to name the user recorded as ``requested_by``), or
anything false (403). Without the callable every request is refused with 403 and a message
saying how to set it: the pages show job arguments and errors, which are nobody's business
by default.

The views are ordinary Flask views (the app's ``before_request`` hooks, sessions and login
managers run first, so the hook can read ``flask_login.current_user`` or ``g``). The CSRF
token is keyed by the app's ``SECRET_KEY`` (every worker agrees on it); without one, by a
key random per process, which breaks actions behind several workers: set ``SECRET_KEY``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask

    from ..scheduler import Scheduler

__all__ = ["DASHBOARD_SETTINGS", "mount"]

logger = logging.getLogger("scheduler.contrib.flask")

ENDPOINT = "scheduler_dashboard"
HOW_TO = (
    "Set SCHEDULER_DASHBOARD_AUTH to a callable taking the request and returning True (may "
    "see the pages) or 'actions' (may also run, pause and resume jobs), e.g. "
    "SCHEDULER_DASHBOARD_AUTH = lambda request: current_user.is_admin and 'actions'."
)


def _path(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith("/") or value.rstrip("/") == "" or (
        any(c in value for c in "<>?#% ")
    ):
        raise ConfigurationError(
            f"{name} must be a URL path such as '/scheduler' (or None to leave the dashboard "
            f"off), got {value!r}"
        )


def _callable(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(
            f"{name} must be a callable taking the request and returning True or 'actions', "
            f"got {value!r}"
        )


#: the Flask-only settings (lower-case name -> checker) for ``validate_settings(extra=)``
DASHBOARD_SETTINGS: dict[str, Callable[[str, Any], None]] = {
    "dashboard": _path,
    "dashboard_auth": _callable,
}


def mount(app: Flask, scheduler: Scheduler, path: str, auth: Callable[[Any], object] | None
          ) -> None:
    """Add the dashboard's views under ``path`` to ``app``."""
    from flask import Response as FlaskResponse
    from flask import request

    from ..dashboard import Access, Dashboard, Links, Request, SchedulerSource

    prefix = path.rstrip("/")
    made: list[Dashboard] = []
    lock = threading.Lock()

    def dashboard() -> Dashboard:
        # Built at the first request, when SECRET_KEY is surely set (a factory may set it
        # after init_app); once, under a lock, so that one key signs every token.
        with lock:
            if not made:
                if not app.secret_key:
                    logger.warning(
                        "the scheduler dashboard of %s signs its CSRF tokens with a key of "
                        "this process (the app has no SECRET_KEY): behind several workers, "
                        "Run now, Pause and Resume fail; set SECRET_KEY", app.name,
                        extra={"app": app.name})
                made.append(Dashboard(SchedulerSource(scheduler),
                                      secret=app.secret_key or None, links=Links(prefix)))
            return made[0]

    def view(sub: str = "") -> FlaskResponse:
        access = Access.from_hook(auth(request)) if auth is not None else Access()
        resp = dashboard().handle(Request(
            method=request.method, path="/" + sub, query=request.args.to_dict(),
            form=request.form.to_dict() if request.method == "POST" else {},
            cookies=dict(request.cookies), access=access, remote_addr=request.remote_addr,
            host=request.host, origin=request.headers.get("Origin"), secure=request.is_secure,
            links=Links(request.script_root + prefix), denied_hint="" if auth else HOW_TO,
        ))
        out = FlaskResponse(resp.body, status=resp.status)
        for name, value in resp.headers:
            if name.lower() == "content-type":
                out.headers["Content-Type"] = value
            else:
                out.headers.add(name, value)
        return out

    methods = ["GET", "HEAD", "POST"]
    app.add_url_rule(prefix + "/", endpoint=ENDPOINT, view_func=view, methods=methods)
    app.add_url_rule(prefix + "/<path:sub>", endpoint=ENDPOINT + "_sub", view_func=view,
                     methods=methods)
