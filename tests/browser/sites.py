"""The dashboard as the browser tests meet it: a Flask app, a Django project or the
standalone server, each over its own SQLite file that a separate scheduler process runs.

A :class:`Site` knows its URLs, how a visitor of each role gets in, and the store (opened in
the test process too, to read what the other process did).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from scheduler.stores import RunOutcome, RunRecord, Store, from_url
from tests.browser import dashjobs
from tests.browser.harness import wait_for
from tests.browser.processes import ROOT, Process, running

MANAGE = ROOT / "tests" / "contrib" / "django_project" / "manage.py"
PASSWORD = "pw"


@dataclass
class Site:
    """One dashboard under test.

    :param base: the overview's URL (ends with ``/``)
    :param enter: ``enter(page, role)`` makes the page's context a visitor of ``role``:
        ``"operator"`` (may act), ``"viewer"`` (may look) or ``"nobody"``
    :param operator: the ``requested_by`` the operator's actions record
    """

    kind: str
    base: str
    store: Store
    store_url: str
    enter: Callable[[Any, str], None]
    operator: str
    extra: dict[str, Any] = field(default_factory=dict)

    def job_url(self, job_id: str) -> str:
        return f"{self.base}job?{urlencode({'id': job_id})}"

    def runs_url(self, **query: str) -> str:
        return f"{self.base}runs" + (f"?{urlencode(query)}" if query else "")

    def action_url(self) -> str:
        return f"{self.base}action"

    def runs(self, job_id: str, limit: int = 200) -> list[RunRecord]:
        return self.store.get_runs(job_id, limit)

    def finished_after(self, job_id: str, when: datetime) -> list[RunRecord]:
        """Runs of ``job_id`` scheduled after ``when`` that have an outcome."""
        return [r for r in self.runs(job_id)
                if r.outcome is not None and r.scheduled_time > when]


def wait_until_the_worker_runs(store: Store) -> None:
    """The other process is up: it has registered the jobs and a heartbeat succeeded."""
    wait_for(lambda: any(r.outcome is RunOutcome.SUCCEEDED
                         for r in store.get_runs(dashjobs.PULSE, 5)),
             "the scheduler process's first heartbeat")


@contextmanager
def sqlite_store() -> Iterator[tuple[str, Store, Path]]:
    with tempfile.TemporaryDirectory(prefix="scheduler-browser-") as tmp:
        url = f"sqlite:///{tmp}/jobs.db"
        store = from_url(url)
        store.open()
        try:
            yield url, store, Path(tmp)
        finally:
            store.close()


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _cookie_role(base: str) -> Callable[[Any, str], None]:
    """Flask: the test app's auth hook reads the ``role`` cookie."""

    def enter(page: Any, role: str) -> None:
        page.context.clear_cookies()
        if role != "nobody":
            page.context.add_cookies([{"name": "role", "value": role, "url": base}])

    return enter


def _django_login(origin: str) -> Callable[[Any, str], None]:
    """Django: log in through the admin's login form, as a user would."""

    def enter(page: Any, role: str) -> None:
        page.context.clear_cookies()
        if role == "nobody":
            return
        page.goto(f"{origin}/admin/login/")
        page.fill("#id_username", role)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{origin}/admin/")

    return enter


def _no_login(page: Any, role: str) -> None:
    """The standalone server has no login (it binds to 127.0.0.1; --allow-actions decides)."""
    page.context.clear_cookies()


@contextmanager
def flask_site() -> Iterator[Site]:
    with ExitStack() as stack:
        url, store, _tmp = stack.enter_context(sqlite_store())
        stack.enter_context(running(_python("-m", "tests.browser.worker", url)))
        server = stack.enter_context(running(_python("-m", "tests.browser.flask_server", url)))
        port = server.wait_for_line("port ").split()[1]
        wait_until_the_worker_runs(store)
        base = f"http://127.0.0.1:{port}/scheduler/"
        yield Site("flask", base, store, url, _cookie_role(base), operator="operator")


@contextmanager
def django_site() -> Iterator[Site]:
    with ExitStack() as stack:
        url, store, tmp = stack.enter_context(sqlite_store())
        server = stack.enter_context(running(_python(
            "-m", "tests.browser.django_server", url, str(tmp / "web.sqlite3"))))
        _, port, _, session = server.wait_for_line("port ").split()
        # The project's own scheduler process: manage.py runscheduler, same jobs module.
        stack.enter_context(running(_python(str(MANAGE), "runscheduler"), env={
            "SCHEDULER_TEST_DB": str(tmp / "runscheduler.sqlite3"),
            "SCHEDULER_TEST_STORE": url,
            "SCHEDULER_TEST_JOBS": "tests.browser.django_jobs",
            "DJANGO_SETTINGS_MODULE": "tests.contrib.django_project.settings",
        }))
        wait_until_the_worker_runs(store)
        origin = f"http://127.0.0.1:{port}"
        yield Site("django", f"{origin}/admin/scheduler/job/", store, url, _django_login(origin),
                   operator="operator", extra={"origin": origin, "outsider_session": session})


def start_standalone(url: str, *flags: str) -> tuple[Process, str]:
    """``scheduler dashboard --store URL --bind 127.0.0.1:0 [flags]``; its base URL."""
    proc = Process(_python("-m", "scheduler", "dashboard", "--store", url,
                           "--bind", "127.0.0.1:0", *flags))
    line = proc.wait_for_line("serving the dashboard")
    base = line.split(" at ", 1)[1].split()[0]
    return proc, base


@contextmanager
def standalone_site() -> Iterator[Site]:
    with ExitStack() as stack:
        url, store, _tmp = stack.enter_context(sqlite_store())
        stack.enter_context(running(_python("-m", "tests.browser.worker", url)))
        proc, base = start_standalone(url, "--allow-actions")
        stack.callback(proc.stop)
        wait_until_the_worker_runs(store)
        # No user: requested_by is the visitor's address.
        yield Site("standalone", base, store, url, _no_login, operator="127.0.0.1")


SITES: dict[str, Callable[[], Any]] = {
    "flask": flask_site,
    "django": django_site,
    "standalone": standalone_site,
}
