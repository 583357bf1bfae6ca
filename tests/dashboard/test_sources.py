"""The facts a page shows, read from a real scheduler and from a bare store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler import JobNotFound, Scheduler
from scheduler.dashboard import (
    Access,
    ActionUnavailable,
    Dashboard,
    Request,
    SchedulerSource,
    StoreSource,
)
from scheduler.stores import RunOutcome, Store, from_url
from scheduler.testing import VirtualClock

from . import jobs
from .jobs import XSS

START = "2026-03-28T12:00:00+00:00"

#: shared pause and run requests in the store (#12, branch ops-control)
needs_control = pytest.mark.skipif(not hasattr(Store, "request_run"),
                                   reason="needs the store's pause and run requests (#12)")


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """A SQLite store in which a scheduler ran two jobs for an hour of virtual time."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    clock = VirtualClock(START)
    sched = Scheduler(timezone="Europe/Bratislava", store=url, clock=clock)
    sched.add_job(jobs.tidy, "*/10 * * * *", id="tidy", name="Tidy up", tags=["ops"])
    sched.add_job(jobs.explode, timedelta(minutes=30), id=XSS, name=f"explode {XSS}")
    with sched:
        clock.advance(hours=1, scheduler=sched)
    yield url


def test_a_bare_store_lists_jobs_runs_and_health(url: str) -> None:
    store = from_url(url)
    store.open()
    try:
        source = StoreSource(store)
        views = {view.id: view for view in source.jobs()}
        assert set(views) == {"tidy", XSS}
        tidy = views["tidy"]
        assert tidy.name == "Tidy up" and tidy.func_ref == "tests.dashboard.jobs:tidy"
        assert tidy.last_run is not None and tidy.last_run.outcome is RunOutcome.SUCCEEDED
        assert str(tidy.timezone) == "Europe/Bratislava"  # the cron trigger keeps its zone
        assert tidy.next_fire is not None and tidy.next_fire.minute % 10 == 0
        assert tidy.tags == ()  # tags are not stored
        boom = views[XSS]
        assert boom.last_run is not None and boom.last_run.outcome is RunOutcome.FAILED
        first, *excerpt = (boom.last_run.error or "").splitlines()
        assert first == f"ValueError: bad row {XSS}"
        assert any("in explode" in line for line in excerpt)
        assert len(source.runs("tidy", 50)) == 6
        assert len(source.runs(None, 50)) == 8
        status = source.status()
        assert status.reachable and status.instances == []  # it shut down
        assert status.health is not None and not status.health.ok
        assert "no live scheduler instance" in "; ".join(status.health.reasons)
        with pytest.raises(JobNotFound):
            source.job("nope")
    finally:
        store.close()


def test_pages_from_a_bare_store_keep_the_payload_inert(url: str) -> None:
    store = from_url(url)
    store.open()
    try:
        dash = Dashboard(StoreSource(store), secret="k")
        view = Access(view=True)
        for path, query in (("/", {}), ("/job", {"id": XSS}), ("/runs", {}),
                            ("/runs", {"outcome": "failed"})):
            resp = dash.handle(Request(method="GET", path=path, query=query, access=view))
            assert resp.status == 200, (path, resp.text)
            assert XSS not in resp.text and "<script" not in resp.text
        runs = dash.handle(Request(method="GET", path="/runs", access=view)).text
        assert "2026-03-28 14:00:00 CET" in runs  # tidy's runs in its zone (13:00 UTC)
        page = dash.handle(Request(method="GET", path="/job", query={"id": XSS}, access=view))
        assert "ValueError: bad row &lt;script&gt;" in page.text
        assert "in explode" in page.text and "<details>" in page.text  # the traceback excerpt
        assert page.text.count('class="bar o-failed"') == 2
    finally:
        store.close()


def test_a_scheduler_that_never_started(url: str) -> None:
    sched = Scheduler(timezone="Europe/Bratislava", store=url)
    sched.add_job(jobs.tidy, "*/10 * * * *", id="tidy", name="Tidy up", tags=["ops"])
    source = SchedulerSource(sched)
    view = source.job("tidy")
    assert view.tags == ("ops",) and view.last_run is not None
    assert view.last_run.outcome is RunOutcome.SUCCEEDED
    status = source.status()
    # not running here, store shared: the cluster's health, which has no live instance
    assert status.reachable and status.health is not None and status.health.view == "cluster"
    source.pause("tidy", requested_by="alice")
    assert source.job("tidy").paused and source.job("tidy").next_fire is None
    source.resume("tidy", requested_by="alice")
    assert not source.job("tidy").paused
    if not hasattr(sched, "request_run"):
        with pytest.raises(ActionUnavailable):
            source.request_run("tidy", requested_by="alice")


def test_a_store_without_shared_pause_says_so(tmp_path: Path) -> None:
    store = from_url("memory")
    store.open()
    source = StoreSource(store)
    if hasattr(store, "set_paused"):
        pytest.skip("the store offers set_paused")
    assert not source.status().can_pause
    with pytest.raises(ActionUnavailable):
        source.pause("x", requested_by=None)


def test_the_last_run_of_a_quiet_job_is_found_beyond_the_recent_runs() -> None:
    from datetime import datetime, timezone

    from scheduler.dashboard._data import RECENT_MIN, last_runs
    from scheduler.stores import RunRecord

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    busy = [RunRecord(run_id=str(i), job_id="busy", scheduled_time=start - timedelta(minutes=i),
                      outcome=RunOutcome.SUCCEEDED) for i in range(RECENT_MIN + 50)]
    quiet = RunRecord(run_id="q", job_id="quiet", scheduled_time=start - timedelta(days=30),
                      outcome=RunOutcome.FAILED)
    calls: list[tuple[str | None, int]] = []

    def get_runs(job_id: str | None, limit: int) -> list[RunRecord]:
        calls.append((job_id, limit))
        every = [*busy, quiet]
        return [r for r in every if job_id in (None, r.job_id)][:limit]

    found = last_runs(get_runs, ["busy", "quiet", "never"])
    assert found["busy"] is busy[0] and found["quiet"] is quiet and found["never"] is None
    assert calls == [(None, RECENT_MIN), ("quiet", 1), ("never", 1)]


@needs_control
def test_run_now_from_a_bare_store_is_a_queued_request_naming_who_asked(url: str) -> None:
    store = from_url(url)
    store.open()
    try:
        source = StoreSource(store)
        key = source.request_run("tidy", requested_by="alice")
        assert store.queued_requests("tidy") == 1  # type: ignore[attr-defined]
        newest = source.runs("tidy", 1)[0]
        assert newest.run_id == key and newest.outcome is None and newest.claimed_at is None
        assert getattr(newest, "trigger", None) == "manual"
        assert getattr(newest, "requested_by", None) == "alice"
        view = source.job("tidy")
        assert not view.running  # queued, not running
        dash = Dashboard(source, secret="k")
        page = dash.handle(Request(method="GET", path="/job", query={"id": "tidy"},
                                   access=Access(view=True))).text
        assert 'class="pill o-queued">queued' in page and "manual by alice" in page
        with pytest.raises(JobNotFound):
            source.request_run("nope", requested_by="alice")
    finally:
        store.close()


@needs_control
def test_pause_from_a_bare_store_reaches_every_scheduler(url: str) -> None:
    store = from_url(url)
    store.open()
    try:
        source = StoreSource(store)
        assert source.status().can_pause and source.status().can_request
        source.pause("tidy", requested_by="alice")
        assert source.job("tidy").paused and source.job("tidy").next_fire is None
        other = Scheduler(timezone="Europe/Bratislava", store=url)
        other.add_job(jobs.tidy, "*/10 * * * *", id="tidy", name="Tidy up")
        assert other.get_job("tidy").paused  # another process sees the store's flag
        source.resume("tidy", requested_by="alice")
        assert not source.job("tidy").paused
        with pytest.raises(JobNotFound):
            source.pause("nope", requested_by=None)
    finally:
        store.close()


@needs_control
def test_run_now_through_a_scheduler_that_never_started(url: str) -> None:
    sched = Scheduler(timezone="Europe/Bratislava", store=url)
    sched.add_job(jobs.tidy, "*/10 * * * *", id="tidy")
    source = SchedulerSource(sched)
    assert source.status().can_request
    key = source.request_run("tidy", requested_by="10.0.0.7")
    run = source.runs("tidy", 1)[0]
    assert run.run_id == key and getattr(run, "requested_by", None) == "10.0.0.7"
