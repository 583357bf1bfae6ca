"""The test Django project (tests/contrib/django_project) served for the browser tests:
``python -m tests.browser.django_server STORE_URL DB_PATH``.

It migrates a fresh database, creates the users the tests log in as (password ``pw``) and
serves the project with wsgiref on a free port of 127.0.0.1, printing ``port N
outsider-session KEY`` when ready (the outsider's session cookie):

- ``outsider``: active, not staff (the admin refuses them);
- ``viewer``: staff without permissions (may look, not act);
- ``operator``: staff with ``scheduler.change_job`` (may run now, pause and resume).
"""

from __future__ import annotations

import os
import sys
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

PASSWORD = "pw"


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main(store_url: str, db_path: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.contrib.django_project.settings"
    os.environ["SCHEDULER_TEST_DB"] = db_path
    os.environ["SCHEDULER_TEST_STORE"] = store_url
    os.environ["SCHEDULER_TEST_JOBS"] = "tests.browser.django_jobs"
    import django

    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0)
    outsider = User.objects.create_user("outsider", password=PASSWORD)
    User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    operator = User.objects.create_user("operator", password=PASSWORD, is_staff=True)
    operator.user_permissions.add(
        Permission.objects.get(content_type__app_label="scheduler", codename="change_job")
    )
    # The admin's login form takes staff only: the outsider's session is made here (as a
    # site's own login page would) and handed to the test.
    from django.test import Client

    client = Client()
    client.force_login(outsider)
    session = client.cookies["sessionid"].value
    server = make_server(
        "127.0.0.1", 0, get_wsgi_application(),
        server_class=ThreadingServer, handler_class=QuietHandler,
    )
    print(f"port {server.server_port} outsider-session {session}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
