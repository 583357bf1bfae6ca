"""The operators' dashboard: one rendering module shared by Flask, Django and the
standalone ``scheduler dashboard`` server. Standard library only; no JavaScript.

Three layers, each usable on its own:

**Facts** (``_data``): a *source* reads a scheduler or a bare store and takes the actions.

* :class:`SchedulerSource` ``(scheduler)``: a :class:`~scheduler.Scheduler` in this process,
  started or not (a web process may show the jobs a ``scheduler run`` process runs).
* :class:`StoreSource` ``(store, default_timezone=UTC)``: an opened store, no app.
* Both offer ``now()``, ``status() -> StatusView`` (store, reachable, ``instances``,
  ``health``), ``jobs() -> list[JobView]`` (with each job's last run, read in one query),
  ``job(id) -> JobView`` (:class:`~scheduler.exceptions.JobNotFound`), ``runs(job_id=None,
  limit=50) -> list[RunRecord]``, ``zones() -> {job id: tzinfo}``, ``pause(id,
  requested_by=)``, ``resume(id, requested_by=)`` and ``request_run(id, requested_by=) ->
  run id``; what an older store cannot do raises :class:`ActionUnavailable` (HTTP 501).
* A run without an outcome is ``queued`` (requested, not claimed) or ``running``; a failed
  run's ``error`` is ``Type: message`` then the end of its traceback (shown folded).

**Pages** (``_render``): pure functions, facts and a :class:`Page` in, HTML text out.

* :class:`Page` ``(now=, links=Links(prefix), can_act=, csrf_field=, csrf_token=, user=,
  notice=)``: everything about the visitor; :class:`Links` builds the URLs (subclass it
  for another URL scheme).
* :func:`render_overview` ``(status, jobs, page, outcome=None, tag=None)``,
  :func:`render_job` ``(job, runs, page)``, :func:`render_runs` ``(runs, page, outcome=,
  page_no=, has_more=, zones=)``, :func:`render_error` ``(page, heading, message)``.
* Everything is escaped unless it is :class:`HTML` built here: a job name, id or error
  holding ``<script>`` renders as text. Templates live in ``templates/``, the stylesheet in
  ``static/dashboard.css`` (:func:`stylesheet`); pages carry no inline style or script, so
  they work under :data:`CSP`.

**Requests** (``_app``): :class:`Dashboard` ``(source, secret=, links=, allow_actions=)``
answers a framework-neutral :class:`Request` ``(method, path, query, form, cookies,
access, remote_addr, host, origin, framework_csrf)`` with a :class:`Response` ``(status,
headers, body)``: routing (``/``, ``/job?id=``, ``/runs``, ``POST /action``,
``/static/dashboard.css``), 403 without :class:`Access`, actions POST-only with a CSRF
token, the CSP and other security headers on every response. :func:`wsgi_app`
``(dashboard, auth)`` wraps it for any WSGI server.

Embedding it::

    from scheduler.dashboard import Dashboard, Links, StoreSource, wsgi_app

    dash = Dashboard(StoreSource(store), links=Links("/scheduler"), secret=KEY)
    app = wsgi_app(dash, auth=lambda environ: "actions" if is_admin(environ) else False)

Flask: set ``SCHEDULER_DASHBOARD = "/scheduler"`` and ``SCHEDULER_DASHBOARD_AUTH`` (see
:mod:`scheduler.contrib.flask`). Standalone: ``scheduler dashboard --store URL``.
"""

from __future__ import annotations

from importlib import resources

from ._app import CSP, Access, Dashboard, Request, Response, request_from_environ, wsgi_app
from ._data import ActionUnavailable, DataSource, JobView, SchedulerSource, StatusView, StoreSource
from ._html import HTML, esc, h
from ._render import (
    OUTCOME_FILTERS,
    Links,
    Page,
    action_buttons,
    filter_jobs,
    render_error,
    render_job,
    render_overview,
    render_runs,
)
from ._words import duration_words, fires_with_marks, relative, trigger_words

__all__ = [
    "CSP",
    "HTML",
    "OUTCOME_FILTERS",
    "Access",
    "ActionUnavailable",
    "Dashboard",
    "DataSource",
    "JobView",
    "Links",
    "Page",
    "Request",
    "Response",
    "SchedulerSource",
    "StatusView",
    "StoreSource",
    "action_buttons",
    "duration_words",
    "esc",
    "filter_jobs",
    "fires_with_marks",
    "h",
    "relative",
    "render_error",
    "render_job",
    "render_overview",
    "render_runs",
    "request_from_environ",
    "stylesheet",
    "trigger_words",
    "wsgi_app",
]


def stylesheet() -> bytes:
    """The dashboard's CSS (for a framework that serves it from its own URL)."""
    return resources.files(__package__).joinpath("static").joinpath("dashboard.css").read_bytes()
