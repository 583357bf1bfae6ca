"""The pages, as pure functions: facts in, an HTML string out.

Each page function takes the facts (from a :mod:`~scheduler.dashboard._data` source) and a
:class:`Page` (links, the time now, who is asking and whether they may act, the CSRF field),
and returns the whole document. Nothing here reads a store or a clock, so the tests render
pages from hand-made facts at a fixed "now".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._html import HTML, h, join, page_template
from ._svg import LATE_AFTER, lateness, outcome_name, timeline_svg
from ._words import duration_words, fires_with_marks, local_time, relative, trigger_words

if TYPE_CHECKING:
    from ..stores import RunRecord
    from ._data import JobView, StatusView

__all__ = [
    "OUTCOME_FILTERS",
    "Links",
    "Page",
    "action_buttons",
    "filter_jobs",
    "render_error",
    "render_job",
    "render_overview",
    "render_runs",
]

#: the outcomes the runs page filters by (the issue's list)
OUTCOME_FILTERS = ("failed", "lost", "missed", "timed_out", "skipped")
#: what the overview's outcome filter offers (the last run's outcome of each job)
JOB_OUTCOMES = ("succeeded", "failed", "timed_out", "lost", "missed", "skipped",
                "uncertain", "running", "queued", "never")


_TINY = timedelta(microseconds=1)


class Links:
    """The URLs of the pages under one mount point. A framework with its own URL scheme
    (Django's ``reverse``) subclasses it and overrides the methods.

    :param prefix: where the dashboard is mounted (``"/scheduler"``; ``""`` at the root)
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/")

    @staticmethod
    def _query(query: Mapping[str, object]) -> str:
        kept = {k: str(v) for k, v in query.items() if v not in (None, "")}
        return "?" + urlencode(kept) if kept else ""

    def overview(self, **query: object) -> str:
        return f"{self.prefix}/{self._query(query)}"

    def runs(self, **query: object) -> str:
        return f"{self.prefix}/runs{self._query(query)}"

    def job(self, job_id: str) -> str:
        # in the query, not the path: ids hold '/' and ':' that servers decode in paths
        return f"{self.prefix}/job{self._query({'id': job_id})}"

    def action(self) -> str:
        return f"{self.prefix}/action"

    def css(self) -> str:
        return f"{self.prefix}/static/dashboard.css"


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """Who sees the page and how it links (everything a page needs besides its facts).

    :param now: the instant relative times count from
    :param can_act: show the Run now / Pause / Resume buttons
    :param csrf_field: the form field the token travels in (Django: ``csrfmiddlewaretoken``)
    :param csrf_token: the token for this visitor (forms carry it)
    :param notice: a message to show on top (what an action did)
    """

    now: datetime
    links: Links = field(default_factory=Links)
    can_act: bool = False
    csrf_field: str = "csrf_token"
    csrf_token: str = ""
    user: str | None = None
    notice: str | None = None
    title: str = "Scheduler"


def _layout(page: Page, heading: str, body: HTML) -> HTML:
    nav = join([
        h('<a href="{}">Overview</a>', page.links.overview()),
        h('<a href="{}">Runs</a>', page.links.runs()),
    ], " ")
    who = ""
    if page.user:
        who = f"{page.user} ({'can act' if page.can_act else 'read-only'})"
    return page_template(
        "base.html",
        title=f"{heading} - {page.title}", css=page.links.css(), home=page.links.overview(),
        brand=page.title, nav=nav, who=who,
        notice=h('<p class="notice" role="status">{}</p>', page.notice) if page.notice else "",
        body=body, rendered=local_time(page.now, None),
    )


def _outcome(run: RunRecord | None) -> HTML:
    if run is None:
        return HTML('<span class="pill o-never">never run</span>')
    return h('<span class="pill o-{}">{}</span>', outcome_name(run), outcome_name(run))


def _when(dt: datetime | None, page: Page, zone: Any = None) -> HTML:
    if dt is None:
        return HTML("-")
    return h('<time datetime="{}" title="{}">{}</time>', dt.isoformat(),
             local_time(dt, zone), relative(dt, page.now))


def _hidden(name: str, value: str) -> HTML:
    return h('<input type="hidden" name="{}" value="{}">', name, value)


def action_buttons(job: JobView, page: Page, *, back: str) -> HTML:
    """The Run now and Pause/Resume forms of a job (POST, CSRF token); empty when the
    visitor may not act. ``back`` is ``"job"`` or ``"overview"``: where to return."""
    if not page.can_act:
        return HTML("")
    toggle = "resume" if job.paused else "pause"
    forms = []
    for action, label in (("run", "Run now"), (toggle, toggle.capitalize())):
        forms.append(h(
            '<form class="inline" method="post" action="{}">{}{}{}{}'
            '<button type="submit" class="btn btn-{}">{}</button></form>',
            page.links.action(), _hidden(page.csrf_field, page.csrf_token),
            _hidden("job_id", job.id), _hidden("action", action), _hidden("back", back),
            action, label,
        ))
    return HTML('<div class="actions">' + "".join(forms) + "</div>")


def _table(headers: Sequence[str], rows: Sequence[HTML], empty: str) -> HTML:
    if not rows:
        return h('<p class="muted">{}</p>', empty)
    head = join(h("<th scope=\"col\">{}</th>", x) for x in headers)
    return h('<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, join(rows))


# -- overview --------------------------------------------------------------------------------


def _status(status: StatusView, page: Page) -> HTML:
    store = h('<dt>Store</dt><dd><code>{}</code> {}</dd>', status.store,
              h('<span class="pill o-succeeded">reachable</span>') if status.reachable
              else h('<span class="pill o-failed">unreachable</span> <span '
                     'class="error-text">{}</span>', status.error or ""))
    health = status.health
    if health is None:
        return h('<dl class="facts">{}</dl>', store)
    seen = ("this process's scheduler" if health.view == "process"
            else "the store (every instance)")
    rows = h(
        '<dt>Health</dt><dd><span class="pill o-{}">{}</span> {}</dd>'
        "<dt>Seen by</dt><dd>{}</dd><dt>Ticker lag</dt><dd>{}</dd>"
        "<dt>Last tick</dt><dd>{}</dd><dt>Running now</dt><dd>{}</dd>"
        "<dt>Overdue</dt><dd>{}</dd><dt>Queued requests</dt><dd>{}</dd>",
        "succeeded" if health.ok else "failed", "ok" if health.ok else "not ok",
        "; ".join(health.reasons), seen,
        "-" if health.ticker_lag is None else duration_words(health.ticker_lag),
        _when(health.last_tick, page), health.jobs_running,
        ", ".join(health.overdue) or "none", health.queued_requests,
    )
    return h('<dl class="facts">{}{}</dl>', store, rows)


def _instances(status: StatusView, page: Page) -> HTML:
    if status.instances is None:
        return HTML('<p class="muted">Not available: the store could not be read.</p>')
    rows = [
        h("<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{}</td><td>{}</td></tr>",
          i.instance, i.host, i.pid, i.version, _when(i.started_at, page),
          _when(i.last_heartbeat, page), ", ".join(i.running) or "-")
        for i in status.instances
    ]
    return _table(("Instance", "Host", "PID", "Version", "Started", "Heartbeat", "Running"),
                  rows, "No live instance: nothing is running the jobs.")


def filter_jobs(jobs: Sequence[JobView], *, outcome: str | None = None,
                tag: str | None = None) -> list[JobView]:
    """The jobs whose last run ended with ``outcome`` (``running``, ``never`` too) and that
    carry ``tag``; None or empty means no filter."""
    out = []
    for job in jobs:
        last = "never" if job.last_run is None else outcome_name(job.last_run)
        if outcome and last != outcome:
            continue
        if tag and tag not in job.tags:
            continue
        out.append(job)
    return out


def _select(name: str, label: str, options: Sequence[str], chosen: str | None) -> HTML:
    opts = [h('<option value="">{}</option>', f"any {label}")]
    opts += [h('<option value="{}"{}>{}</option>', o,
               HTML(" selected") if o == chosen else "", o) for o in options]
    return h('<label>{} <select name="{}">{}</select></label>', label, name, join(opts))


def _job_row(job: JobView, page: Page) -> HTML:
    last = job.last_run
    last_when = None if last is None else (last.finished_at or last.started_at
                                            or last.scheduled_time)
    state = []
    if job.paused:
        state.append(HTML('<span class="pill o-paused">paused</span>'))
    if job.running:
        state.append(HTML('<span class="pill o-running">running</span>'))
    if job.broken:
        state.append(h('<span class="pill o-failed" title="{}">broken</span>', job.broken))
    return h(
        "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td>"
        "<td>{}<br><span class=\"muted\">{}</span></td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
        page.links.job(job.id), job.id, job.name,
        trigger_words(job.trigger, job.timezone) if job.trigger else "unreadable",
        relative(job.next_fire, page.now) if job.next_fire else "not scheduled",
        local_time(job.next_fire, job.timezone) if job.next_fire else "",
        _outcome(last), _when(last_when, page, job.timezone), join(state, " "),
        action_buttons(job, page, back="overview"),
    )


def render_overview(status: StatusView, jobs: Sequence[JobView], page: Page, *,
                    outcome: str | None = None, tag: str | None = None) -> HTML:
    """The overview: status, live instances, the jobs table filtered by the last outcome
    and a tag (both from the GET query)."""
    shown = filter_jobs(jobs, outcome=outcome, tag=tag)
    tags = sorted({t for job in jobs for t in job.tags})
    filters = h(
        '<form class="filters" method="get" action="{}">{}{}'
        '<button type="submit">Filter</button> <a href="{}">clear</a></form>',
        page.links.overview(), _select("outcome", "outcome", JOB_OUTCOMES, outcome),
        _select("tag", "tag", tags, tag) if tags else "", page.links.overview(),
    )
    rows = [_job_row(job, page) for job in shown]
    table = _table(("Id", "Name", "Trigger", "Next fire", "Last run", "State", ""), rows,
                   "No jobs match." if jobs else "No jobs in this store yet.")
    count = f"{len(shown)} of {len(jobs)}" if len(shown) != len(jobs) else str(len(jobs))
    body = page_template("overview.html", status=_status(status, page),
                         instances=_instances(status, page), count=count,
                         filters=filters, jobs=table)
    return _layout(page, "Overview", body)


# -- job page --------------------------------------------------------------------------------


def _error_cell(run: RunRecord) -> HTML:
    """The error's first line (``Type: message``); the rest (the traceback excerpt the
    history keeps) folded under it."""
    if not run.error:
        return HTML("")
    first, _, rest = run.error.strip().partition("\n")
    if not rest.strip():
        return h('<span class="error-text">{}</span>', first)
    return h('<details><summary class="error-text">{}</summary><pre>{}</pre></details>',
             first, rest)


def _run_row(run: RunRecord, page: Page, zone: Any, *, with_job: bool) -> HTML:
    late = lateness(run)
    late_text = duration_words(late) if late is not None and late > LATE_AFTER else ""
    trigger = getattr(run, "trigger", "schedule")
    by = getattr(run, "requested_by", None)
    how = trigger if not by else f"{trigger} by {by}"
    job_cell = h('<td><a href="{}"><code>{}</code></a></td>', page.links.job(run.job_id),
                 run.job_id) if with_job else HTML("")
    return h(
        "<tr>{}<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td></tr>",
        job_cell, local_time(run.scheduled_time, zone), _outcome(run),
        _when(run.started_at, page, zone), duration_words(run.duration), late_text,
        run.attempt, how, f"{run.host}:{run.pid}" if run.owner else "", _error_cell(run),
    )


_RUN_HEADERS = ("Scheduled", "Outcome", "Started", "Took", "Late", "Attempt", "How", "Where",
                "Error")


def _definition(job: JobView) -> HTML:
    from .._tz import tz_name

    trigger = job.trigger
    facts: list[tuple[str, object]] = [
        ("Id", h("<code>{}</code>", job.id)),
        ("Name", job.name),
        ("Function", h("<code>{}</code>", job.func_ref or "(not importable)")),
        ("Trigger", trigger_words(trigger, job.timezone) if trigger else "unreadable"),
        ("Rule", h("<code>{}</code>", json.dumps(trigger.to_dict(), sort_keys=True))
         if trigger else ""),
        ("Zone", tz_name(job.timezone)),
        ("Options", h("<code>{}</code>", json.dumps(job.options, sort_keys=True, default=str))),
        ("Arguments", h("<code>{}</code>", json.dumps(
            {"args": list(job.args), "kwargs": job.kwargs}, sort_keys=True, default=repr))),
        ("Added", "at run time (stored)" if job.dynamic else "in code"),
        ("Paused", "yes" if job.paused else "no"),
        ("Running now", "yes" if job.running else "no"),
    ]
    if job.tags:
        facts.append(("Tags", ", ".join(job.tags)))
    if job.broken:
        facts.append(("Broken", h('<span class="error-text">{}</span>', job.broken)))
    return h('<dl class="facts">{}</dl>',
             join(h("<dt>{}</dt><dd>{}</dd>", k, v) for k, v in facts))


def _fires(job: JobView, page: Page) -> HTML:
    if job.trigger is None or job.broken:
        return HTML('<p class="muted">Not scheduled: the definition cannot be read.</p>')
    if job.paused:
        return HTML('<p class="muted">Paused: no fires until it is resumed.</p>')
    if job.next_fire is None:
        return HTML('<p class="muted">It will not fire again.</p>')
    # Anchored at the next fire, an interval's grid is the job's (cron ignores the anchor).
    rule = job.trigger.anchored(job.next_fire)
    marks = fires_with_marks(rule, job.next_fire - _TINY, job.timezone, 10, since=page.now)
    rows = [
        h('<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>',
          HTML(' class="dst"') if m.mark else "", local_time(m.when, job.timezone),
          relative(m.when, page.now), m.mark or "")
        for m in marks
    ]
    return _table(("When (job's zone)", "From now", "Daylight saving"), rows,
                  "It will not fire again.")


def render_job(job: JobView, runs: Sequence[RunRecord], page: Page) -> HTML:
    """A job's page: definition, the next 10 fires (daylight-saving transitions marked),
    the timeline of its last runs and its run history (newest first)."""
    history = _table(_RUN_HEADERS, [_run_row(r, page, job.timezone, with_job=False)
                                    for r in runs], "No runs recorded yet.")
    body = page_template(
        "job.html", name=job.name, job_id=job.id,
        actions=action_buttons(job, page, back="job"), definition=_definition(job),
        fires=_fires(job, page), timeline=timeline_svg(runs, job.timezone), runs=history,
    )
    return _layout(page, job.name, body)


# -- runs page -------------------------------------------------------------------------------


def render_runs(runs: Sequence[RunRecord], page: Page, *, outcome: str | None = None,
                page_no: int = 1, has_more: bool = False,
                zones: Mapping[str, tzinfo] | None = None, window: int | None = None) -> HTML:
    """Recent runs of every job (this page of them), with the outcome filter links and
    previous/next links.

    :param zones: each job's zone (times of other jobs' runs are shown in UTC)
    :param window: the filter looked through only this many newest runs (said on the page)
    """
    links = [h('<a href="{}"{}>all</a>', page.links.runs(),
               HTML(' aria-current="page"') if not outcome else "")]
    links += [h('<a href="{}"{}>{}</a>', page.links.runs(outcome=o),
                HTML(' aria-current="page"') if o == outcome else "", o)
              for o in OUTCOME_FILTERS]
    filters = h('<nav class="filters" aria-label="outcome">{}{}</nav>', join(links, " "),
                h(' <span class="muted">among the newest {} runs</span>', window)
                if outcome and window else "")
    zones = zones or {}
    table = _table(("Job", *_RUN_HEADERS), [
        _run_row(r, page, zones.get(r.job_id, timezone.utc), with_job=True) for r in runs
    ], "No runs.")
    pager = []
    if page_no > 1:
        pager.append(h('<a rel="prev" href="{}">&larr; newer</a>',
                       page.links.runs(outcome=outcome, page=page_no - 1)))
    pager.append(h('<span>page {}</span>', page_no))
    if has_more:
        pager.append(h('<a rel="next" href="{}">older &rarr;</a>',
                       page.links.runs(outcome=outcome, page=page_no + 1)))
    body = page_template("runs.html", filters=filters, runs=table,
                         pager=h('<nav class="pager">{}</nav>', join(pager, " ")))
    return _layout(page, "Runs", body)


def render_error(page: Page, heading: str, message: str, hint: str = "") -> HTML:
    """An error page (403, 404, 405, 400) in the dashboard's layout."""
    body = page_template("error.html", heading=heading, message=message,
                         hint=h('<p class="muted">{}</p>', hint) if hint else "")
    return _layout(page, heading, body)
