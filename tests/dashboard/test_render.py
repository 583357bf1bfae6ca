"""The pages rendered from hand-made facts: escaping, words, marks, SVG, filters, paging."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from xml.etree import ElementTree

from scheduler.dashboard import (
    Links,
    filter_jobs,
    render_error,
    render_job,
    render_overview,
    render_runs,
)
from scheduler.stores import RunOutcome
from scheduler.triggers.cron import Cron
from scheduler.triggers.interval import Interval

from .facts import BA, NOW, XSS, job, page, run, status


def _no_raw_markup_from(text: str, html: str) -> None:
    assert text not in html
    assert "&lt;script&gt;" in html


def test_a_script_in_a_job_name_id_or_error_renders_as_text() -> None:
    evil = job(XSS, name=XSS, func_ref=XSS, tags=(XSS,),
               last_run=run(XSS, outcome=RunOutcome.FAILED, error=f"ValueError: {XSS}"),
               broken=XSS)
    overview = render_overview(status(), [evil], page(can_act=True))
    _no_raw_markup_from(XSS, overview)
    runs = [run(XSS, outcome=RunOutcome.FAILED, error=f"Traceback:\n  {XSS}\nValueError: {XSS}")]
    job_page = render_job(evil, runs, page(can_act=True))
    _no_raw_markup_from(XSS, job_page)
    runs_page = render_runs(runs, page())
    _no_raw_markup_from(XSS, runs_page)
    # the only <script would be one we wrote: there is none at all
    for html in (overview, job_page, runs_page):
        assert "<script" not in html.lower()
        assert " style=" not in html and "<style" not in html  # CSP: no inline style


def test_attribute_values_are_quoted_and_escaped() -> None:
    quote = 'x" onmouseover="alert(1)'
    html = render_overview(status(), [job(quote)], page(can_act=True))
    assert 'onmouseover="alert' not in html
    assert "x&quot; onmouseover=&quot;alert(1)" in html


def test_the_overview_lists_jobs_with_trigger_words_next_fire_and_last_outcome() -> None:
    html = render_overview(status(), [job()], page())
    assert "at 02:30 every day, Europe/Bratislava" in html
    assert "in 15 h" in html  # 10:00 UTC = 11:00 CET; next 02:30 CET is 15 h 30 min away
    assert "2026-12-03 02:30:00 CET" in html
    assert 'class="pill o-succeeded">succeeded' in html
    assert "59 min ago" in html  # it finished 2 s after its 09:00 start
    assert '<a href="/job?id=backup">' in html


def test_the_overview_shows_store_health_and_instances() -> None:
    html = render_overview(status(), [job()], page())
    assert "SQLiteStore(&#x27;/srv/jobs.db&#x27;" in html
    assert "reachable" in html
    assert "web-1:4242:abc" in html and "5 s ago" in html
    down = render_overview(status(reachable=False, error="connection refused", instances=None),
                           [], page())
    assert "unreachable" in down and "connection refused" in down
    assert "No jobs in this store yet." in down
    lonely = render_overview(status(instances=[]), [job()], page())
    assert "No live instance" in lonely


def test_paused_running_and_broken_jobs_say_so() -> None:
    html = render_overview(status(), [job(paused=True, running=True, next_fire=None)], page())
    assert "paused</span>" in html and "running</span>" in html
    assert "not scheduled" in html


def test_read_only_visitors_get_no_buttons() -> None:
    html = render_overview(status(), [job()], page(can_act=False))
    assert "<form" in html  # the filter form
    assert 'method="post"' not in html and "Run now" not in html


def test_action_forms_post_with_the_csrf_token() -> None:
    html = render_job(job(), [], page(can_act=True, csrf_field="csrfmiddlewaretoken"))
    forms = re.findall(r'<form class="inline" method="post" action="/action">(.*?)</form>', html)
    assert len(forms) == 2
    for form in forms:
        assert '<input type="hidden" name="csrfmiddlewaretoken" value="tok123">' in form
        assert '<input type="hidden" name="job_id" value="backup">' in form
    assert "Run now" in html and "Pause" in html and "Resume" not in html
    paused = render_job(job(paused=True), [], page(can_act=True))
    assert "Resume" in paused and ">Pause<" not in paused


def test_filters_by_last_outcome_and_tag() -> None:
    jobs = [job("a", tags=("ops",)),
            job("b", tags=("billing",), last_run=run("b", outcome=RunOutcome.FAILED)),
            job("c", tags=(), last_run=None)]
    assert [j.id for j in filter_jobs(jobs, outcome="failed")] == ["b"]
    assert [j.id for j in filter_jobs(jobs, outcome="never")] == ["c"]
    assert [j.id for j in filter_jobs(jobs, tag="ops")] == ["a"]
    assert [j.id for j in filter_jobs(jobs)] == ["a", "b", "c"]
    html = render_overview(status(), jobs, page(), outcome="failed")
    assert "1 of 3" in html
    assert '<option value="failed" selected>' in html
    assert '<option value="billing">' in html  # the tags offered are the jobs' tags


def test_the_job_page_shows_definition_next_fires_timeline_and_history() -> None:
    runs = [run(minutes_ago=5, outcome=RunOutcome.FAILED, took=1.5, late=30,
                error="Traceback (most recent call last):\n  File x\nKeyError: 'k'"),
            run(minutes_ago=65, took=2.0)]
    html = render_job(job(), runs, page())
    assert "app.jobs:backup" in html
    assert '"expression": "30 2 * * *"' in html.replace("&quot;", '"')
    assert html.count('<tr><td>2026-') + html.count('<tr class="dst"><td>2026-') >= 10
    assert "<details><summary class=\"error-text\">Traceback" in html
    assert "KeyError: &#x27;k&#x27;" in html
    assert "30.0 s" in html  # lateness column


def test_next_fires_across_daylight_saving_are_marked() -> None:
    from datetime import datetime, timezone

    march = datetime(2026, 3, 25, 12, tzinfo=timezone.utc)
    trigger = Cron("30 2 * * *", timezone=BA)
    view = job(trigger=trigger, next_fire=trigger.next_after(march).astimezone(BA))
    html = render_job(view, [], page(now=march))
    assert html.count('<tr class="dst">') == 1
    assert "clocks went forward before this fire (UTC+01:00 to UTC+02:00)" in html
    assert "2026-03-29 03:00:00 CEST" in html


def test_an_interval_jobs_next_fires_follow_its_grid() -> None:
    trigger = Interval(minutes=10)
    first = NOW + timedelta(minutes=3)
    html = render_job(job(trigger=trigger, next_fire=first.astimezone(BA)), [], page())
    assert "2026-12-02 11:03:00 CET" in html and "2026-12-02 11:13:00 CET" in html


def test_the_timeline_is_svg_with_one_bar_per_run() -> None:
    runs = [run(minutes_ago=10 * i, took=float(i + 1), outcome=outcome, late=late)
            for i, (outcome, late) in enumerate([
                (RunOutcome.SUCCEEDED, 0), (RunOutcome.FAILED, 0), (RunOutcome.TIMED_OUT, 5),
                (RunOutcome.SUCCEEDED, 0)])]
    runs.append(run(minutes_ago=60, outcome=RunOutcome.MISSED, took=None))
    html = render_job(job(), runs, page())
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None
    tree = ElementTree.fromstring(svg.group(0))  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    bars = tree.findall(f"{ns}rect")
    assert [b.get("class") for b in bars] == [
        "bar o-missed", "bar o-succeeded", "bar o-timed_out", "bar o-failed", "bar o-succeeded"]
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[1] > heights[2] > heights[3] > heights[4]  # longer run, taller bar
    assert heights[0] == 4  # no duration: a stub
    late = tree.findall(f"{ns}path")
    assert len(late) == 1 and "started 5.0 s late" in (late[0].findtext(f"{ns}title") or "")
    legend = html[html.index("</svg>"):]
    assert legend.index("o-failed") < legend.index("o-missed") < legend.index("o-succeeded")
    assert "started late" in legend


def test_the_timeline_escapes_error_text_in_its_tooltips() -> None:
    html = render_job(job(), [run(outcome=RunOutcome.FAILED, error=XSS)], page())
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg is not None and XSS not in svg.group(0)
    ElementTree.fromstring(svg.group(0))


def test_the_runs_page_filters_and_pages() -> None:
    runs = [run("a", outcome=RunOutcome.FAILED, error="boom", requested_by="alice",
                trigger="manual")] if _has_manual_fields() else [
        run("a", outcome=RunOutcome.FAILED, error="boom")]
    html = render_runs(runs, page(links=Links("/ops")), outcome="failed", page_no=2,
                       has_more=True)
    assert '<a href="/ops/runs?outcome=failed" aria-current="page">failed</a>' in html
    assert '<a rel="prev" href="/ops/runs?outcome=failed&amp;page=1">' in html
    assert '<a rel="next" href="/ops/runs?outcome=failed&amp;page=3">' in html
    assert '<a href="/ops/job?id=a">' in html
    if _has_manual_fields():
        assert "manual by alice" in html
    first = render_runs(runs, page())
    assert 'rel="prev"' not in first and 'rel="next"' not in first
    assert "2026-12-02 09:00:00 UTC" in first  # no zone known: UTC, said so
    zoned = render_runs(runs, page(), zones={"a": BA})
    assert "2026-12-02 10:00:00 CET" in zoned


def _has_manual_fields() -> bool:
    from dataclasses import fields

    from scheduler.stores import RunRecord

    return {"trigger", "requested_by"} <= {f.name for f in fields(RunRecord)}


def test_links_put_ids_in_the_query() -> None:
    links = Links("/scheduler/")
    assert links.job("app.jobs:a/b c") == "/scheduler/job?id=app.jobs%3Aa%2Fb+c"
    assert links.overview() == "/scheduler/" and links.runs(page=2) == "/scheduler/runs?page=2"
    assert links.css() == "/scheduler/static/dashboard.css"


def test_an_error_page_escapes_its_message() -> None:
    html = render_error(page(), "No such job", f"no job {XSS}")
    _no_raw_markup_from(XSS, html)
    assert "<h1>No such job</h1>" in html


def test_every_page_links_the_stylesheet_and_nothing_external() -> None:
    for html in (render_overview(status(), [job()], page()), render_job(job(), [run()], page()),
                 render_runs([run()], page())):
        assert '<link rel="stylesheet" href="/static/dashboard.css">' in html
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in html


def test_a_long_traceback_is_cut_to_its_end() -> None:
    from scheduler._report_runs import TRACEBACK_CHARS, TRACEBACK_LINES, history_error

    def deep(n: int) -> None:
        if n == 0:
            raise KeyError(XSS * 50)
        deep(n - 1)

    try:
        deep(40)
    except KeyError as exc:
        text = history_error(f"KeyError: {exc}", exc)
    lines = text.splitlines()
    assert lines[0].startswith("KeyError: ") and len(lines) <= TRACEBACK_LINES + 2
    assert len(text) <= len(lines[0]) + TRACEBACK_CHARS + 10
    assert "in deep" in text


def test_a_worker_processs_own_traceback_is_kept() -> None:
    from scheduler._procwire import _RemoteTraceback
    from scheduler._report_runs import history_error

    exc = ValueError("x")
    exc.__cause__ = _RemoteTraceback(
        'Traceback (most recent call last):\n  File "child.py", line 9, in job\nValueError: x')
    assert history_error("ValueError: x", exc).splitlines() == [
        "ValueError: x", "Traceback (most recent call last):", '  File "child.py", line 9, in job',
        "ValueError: x"]


class _Balance(HTMLParser):
    """Every opened element is closed, in order (void elements aside)."""

    VOID = {"meta", "link", "input", "br", "hr", "img"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def test_every_page_is_well_nested() -> None:
    runs = [run(outcome=RunOutcome.FAILED, error="Traceback:\n  x\nValueError: <b>"),
            run(minutes_ago=5, late=10), run(minutes_ago=1, outcome=None, took=None)]
    pages = [render_overview(status(), [job(), job("b", paused=True, running=True)],
                             page(can_act=True)),
             render_overview(status(reachable=False, error="down", instances=None), [], page()),
             render_job(job(), runs, page(can_act=True)), render_job(job(), [], page()),
             render_runs(runs, page(), outcome="failed", page_no=2, has_more=True),
             render_error(page(), "Forbidden", "no", "hint")]
    for html in pages:
        checker = _Balance()
        checker.feed(html)
        checker.close()
        assert checker.stack == []
