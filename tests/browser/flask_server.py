"""A Flask app with the dashboard mounted at /scheduler, served for the browser tests:
``python -m tests.browser.flask_server STORE_URL`` prints ``port N`` when ready.

Its scheduler is not started here (``SCHEDULER_AUTOSTART = False``): the jobs run in another
process, as with ``flask scheduler run``. The auth hook stands in for an app's login: the
``role`` cookie says who the visitor is (``operator`` may act, ``viewer`` may look).
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask, request
from werkzeug.serving import make_server

from scheduler.contrib.flask import FlaskScheduler
from scheduler.dashboard import Access
from tests.browser.dashjobs import JOBS


def dashboard_auth(*_: Any) -> Access | bool:
    role = request.cookies.get("role")
    if role == "operator":
        return Access(view=True, act=True, user="operator")
    if role == "viewer":
        return Access(view=True, user="viewer")
    return False


def create_app(store_url: str) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="browser-tests-only",
        SCHEDULER_STORE=store_url,
        SCHEDULER_TIMEZONE="Europe/Bratislava",
        SCHEDULER_AUTOSTART=False,
        SCHEDULER_DASHBOARD="/scheduler",
        SCHEDULER_DASHBOARD_AUTH=dashboard_auth,
    )
    ext = FlaskScheduler(app)
    for func, trigger, options in JOBS:
        ext.add_job(func, trigger, **options)
    return app


def main(store_url: str) -> None:
    server = make_server("127.0.0.1", 0, create_app(store_url), threaded=True)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
