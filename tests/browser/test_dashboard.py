"""The dashboard end to end, in a real headless Chromium, against a Flask app, a Django
project and the standalone ``scheduler dashboard`` server.

Each site has its own SQLite file and a scheduler in another process (the tests' worker, or
``manage.py runscheduler`` for Django) that runs the jobs of :mod:`tests.browser.dashjobs`.
So what the tests see crossed a process boundary: a paused job stops firing *there*, a Run
now click is run *there*. Effects in the other process are awaited by polling the store
with a deadline (:func:`~tests.browser.harness.wait_for`), never by sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from scheduler.stores import RunOutcome
from tests.browser import dashjobs
from tests.browser.harness import wait_for
from tests.browser.sites import SITES, Site, start_standalone


@pytest.fixture(scope="module", params=sorted(SITES))
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    with SITES[request.param]() as s:
        yield s


def row(page: Any, job_id: str) -> Any:
    """The overview's table row of ``job_id``."""
    return page.locator("tbody tr").filter(has=page.locator("code", has_text=re.compile(
        "^" + re.escape(job_id) + "$")))


def reload_until(page: Any, check: Any, what: str) -> None:
    """Reload the page until ``check()`` is true: the pages have no script, so they show
    another process's progress only when loaded again."""

    def again() -> bool:
        page.reload()
        return bool(check())

    if not check():
        wait_for(again, what)


def assert_no_script_ran(page: Any) -> None:
    assert page.evaluate("() => window.__xss") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.locator("script").count() == 0
    assert page.locator("img[src=x]").count() == 0


def now() -> datetime:
    return datetime.now(timezone.utc)


# -- what the pages show -----------------------------------------------------------------------


def test_the_overview_shows_the_jobs_their_next_fires_and_outcomes(site: Site, page: Any) -> None:
    site.enter(page, "viewer")
    page.goto(site.base)
    assert page.title().startswith("Overview")
    for job_id in (dashjobs.NIGHTLY, dashjobs.PULSE, dashjobs.SYNC, dashjobs.ON_DEMAND,
                   dashjobs.HOSTILE):
        assert row(page, job_id).count() == 1, job_id
    nightly = row(page, dashjobs.NIGHTLY)
    # The trigger in words and the next fire in the job's zone, and relative to now.
    assert "02:30" in nightly.inner_text()
    assert "Europe/Bratislava" in nightly.inner_text()
    assert re.search(r"\bin \d+ (h|min)\b", nightly.inner_text())
    assert re.search(r"\d{4}-\d\d-\d\d 02:30", nightly.inner_text())
    # Outcomes the other process recorded.
    reload_until(page, lambda: row(page, dashjobs.PULSE).locator(".o-succeeded").count() > 0,
                 "the heartbeat's success on the overview")
    reload_until(page, lambda: row(page, dashjobs.HOSTILE).locator(".o-failed").count() > 0,
                 "the hostile job's failure on the overview")


def test_the_job_page_shows_the_definition_next_fires_timeline_and_history(
    site: Site, page: Any
) -> None:
    site.enter(page, "viewer")
    page.goto(site.job_url(dashjobs.PULSE))
    assert page.locator("h1").inner_text().strip().startswith("Heartbeat")
    body = page.locator("main").inner_text()
    assert "tests.browser.dashjobs:heartbeat" in body
    # The next 10 fires.
    fires = page.locator("table").first.locator("tbody tr")
    assert fires.count() == 10
    # The timeline of the last runs is an SVG drawn on the server, one bar per run.
    reload_until(page, lambda: page.locator("svg.timeline rect.bar.o-succeeded").count() > 0,
                 "a succeeded bar in the timeline")
    # The run history below it: the other process's runs, newest first.
    history = page.locator("table").last.locator("tbody tr")
    assert history.filter(has=page.locator(".o-succeeded")).count() >= 1
    assert all("schedule" in text for text in history.all_inner_texts())


def test_the_runs_page_filters_by_outcome(site: Site, page: Any) -> None:
    site.enter(page, "viewer")
    wait_for(lambda: site.finished_after(dashjobs.HOSTILE, datetime.min.replace(
        tzinfo=timezone.utc)), "a failed run of the hostile job")
    page.goto(site.runs_url(outcome="failed"))
    rows = page.locator("tbody tr")
    assert rows.count() >= 1
    for text in rows.all_inner_texts():
        assert "failed" in text
        assert dashjobs.HOSTILE in text
    page.goto(site.runs_url())
    assert page.locator("tbody tr", has_text=dashjobs.PULSE).count() >= 1


# -- actions -----------------------------------------------------------------------------------


def test_run_now_makes_the_run_appear_with_its_outcome(site: Site, page: Any) -> None:
    site.enter(page, "operator")
    page.goto(site.job_url(dashjobs.ON_DEMAND))
    page.get_by_role("button", name="Run now").click()
    page.wait_for_load_state()
    assert "Run requested" in page.locator(".notice").inner_text()
    reload_until(
        page,
        lambda: page.locator("tbody tr", has=page.locator(".o-succeeded"))
        .filter(has_text=f"manual by {site.operator}").count() > 0,
        "the requested run's success on the job page",
    )
    run = next(r for r in site.runs(dashjobs.ON_DEMAND) if r.outcome is RunOutcome.SUCCEEDED)
    assert run.result is not None and "index rebuilt" in run.result
    assert run.trigger == "manual"
    assert run.requested_by == site.operator
    assert run.owner  # run and recorded by the scheduler process, not the web one


def test_pause_and_resume_take_effect_in_the_other_process(site: Site, page: Any) -> None:
    site.enter(page, "operator")
    page.goto(site.job_url(dashjobs.SYNC))
    page.get_by_role("button", name="Pause").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Resume").count() == 1
    assert "Paused" in page.locator(".notice").inner_text()

    # The other process stops firing it while it keeps firing the heartbeat (its clock):
    # three heartbeats after the last sync run, every one of them a second apart.
    def stopped() -> bool:
        syncs = [r.scheduled_time for r in site.runs(dashjobs.SYNC)]
        last_sync = max(syncs) if syncs else datetime.min.replace(tzinfo=timezone.utc)
        return len(site.finished_after(dashjobs.PULSE, last_sync)) >= 3

    wait_for(stopped, "the other process to stop firing the paused job")
    paused_at = max(r.scheduled_time for r in site.runs(dashjobs.SYNC))
    page.reload()
    assert "Paused: no fires" in page.locator("main").inner_text()

    resume_clicked = now()
    page.get_by_role("button", name="Resume").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Pause").count() == 1
    wait_for(lambda: site.finished_after(dashjobs.SYNC, resume_clicked),
             "the other process to fire the resumed job")
    # Nothing fired in between: the pause held until the resume.
    assert not [r for r in site.runs(dashjobs.SYNC)
                if paused_at < r.scheduled_time < resume_clicked]


# -- hostile input and refusals ----------------------------------------------------------------


def test_a_job_whose_name_and_error_hold_a_script_stays_inert(site: Site, page: Any) -> None:
    site.enter(page, "operator")
    wait_for(lambda: site.finished_after(dashjobs.HOSTILE, datetime.min.replace(
        tzinfo=timezone.utc)), "a failed run of the hostile job")
    page.goto(site.base)
    hostile = row(page, dashjobs.HOSTILE)
    assert dashjobs.XSS in hostile.inner_text()  # shown as typed, not as markup
    assert_no_script_ran(page)

    page.goto(site.job_url(dashjobs.HOSTILE))
    assert dashjobs.XSS in page.locator("h1").inner_text()
    assert dashjobs.XSS in page.locator("main").inner_text()  # the error text
    assert_no_script_ran(page)

    page.goto(site.runs_url(outcome="failed"))
    assert dashjobs.XSS in page.locator("tbody").inner_text()
    assert_no_script_ran(page)


def test_a_visitor_without_access_gets_403(site: Site, page: Any) -> None:
    site.enter(page, "nobody")
    response = page.goto(site.base)
    if site.kind == "django":
        # The admin sends an anonymous visitor to its login page; a logged-in user who is
        # not staff gets 403.
        assert "/admin/login/" in page.url
        page.context.add_cookies([{"name": "sessionid", "value": site.extra["outsider_session"],
                                   "url": site.extra["origin"]}])
        response = page.goto(site.base)
        assert response.status == 403
        assert "staff" in page.locator("main").inner_text()
    elif site.kind == "flask":
        assert response.status == 403
        assert page.get_by_role("button", name="Run now").count() == 0
    else:
        # The standalone server has no login: started without --allow-actions it is
        # read-only, and an action is refused.
        proc, base = start_standalone(site.store_url)
        try:
            page.goto(base)
            assert page.get_by_role("button", name="Run now").count() == 0
            refused = page.request.post(f"{base}action", form={
                "job_id": dashjobs.SYNC, "action": "pause", "back": "job"})
            assert refused.status == 403
            assert "--allow-actions" in refused.text()
        finally:
            proc.stop()
    assert_not_paused(site)


# the standalone server has no users: its read-only mode is tested above
@pytest.mark.parametrize("site", ["django", "flask"], indirect=True)
def test_a_viewer_may_look_but_not_act(site: Site, page: Any) -> None:
    site.enter(page, "viewer")
    page.goto(site.job_url(dashjobs.SYNC))
    assert page.get_by_role("button", name="Pause").count() == 0
    assert page.get_by_role("button", name="Run now").count() == 0
    form = {"job_id": dashjobs.SYNC, "action": "pause", "back": "job"}
    csrf = {c["name"]: c["value"] for c in page.context.cookies()}
    if site.kind == "django":
        form["csrfmiddlewaretoken"] = csrf["csrftoken"]
    refused = page.request.post(site.action_url(), form=form)
    assert refused.status == 403
    assert_not_paused(site)


def test_a_post_without_the_csrf_token_is_refused(site: Site, page: Any) -> None:
    # Not the job the pause test pauses and resumes: this test stands on its own.
    site.enter(page, "operator")
    page.goto(site.job_url(dashjobs.NIGHTLY))  # the visitor has a CSRF cookie now
    assert page.get_by_role("button", name="Pause").count() == 1
    refused = page.request.post(site.action_url(), form={
        "job_id": dashjobs.NIGHTLY, "action": "pause", "back": "job"})
    assert refused.status == 403
    assert_not_paused(site, dashjobs.NIGHTLY)
    page.reload()
    assert page.get_by_role("button", name="Pause").count() == 1


def assert_not_paused(site: Site, job_id: str = dashjobs.SYNC) -> None:
    stored = site.store.get_job(job_id)
    assert stored is not None
    assert not getattr(stored, "paused", False)
