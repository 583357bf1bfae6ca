"""scheduler.contrib.prometheus (#12): metrics scraped over real HTTP match the run history."""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, make_wsgi_app  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from scheduler import Interval, Scheduler  # noqa: E402
from scheduler.contrib.prometheus import instrument  # noqa: E402
from scheduler.testing import VirtualClock, settle  # noqa: E402

START = "2026-03-02T12:00:00+00:00"


def fine() -> str:
    return "ok"


def broken() -> None:
    raise RuntimeError("boom")


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[tuple[CollectorRegistry, str]]:
    """A registry served over HTTP by a real server on a free port."""
    registry = CollectorRegistry()
    server = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield registry, f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_scraped_counts_match_the_run_history(registry) -> None:
    reg, url = registry
    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    sched.add_job(fine, Interval(minutes=1), id="fine")
    sched.add_job(broken, Interval(minutes=2), id="broken")
    # coalesce off and a 1 s grace: the fires a jump skips over are each recorded missed
    sched.add_job(fine, Interval(minutes=1), id="strict", coalesce=False, misfire_grace_time=1)
    instrument(sched, registry=reg)
    with sched:
        clock.advance(minutes=10, scheduler=sched)
        clock.advance(minutes=5)  # the process was frozen: fires come due late
        settle(sched)
        metrics = scrape(url)
        runs = sched.get_runs(limit=1000)
    history = Counter((r.job_id, str(r.outcome)) for r in runs)
    assert history[("strict", "missed")] == 4  # the fifth fire of the jump is on time
    assert history[("broken", "failed")] == 6  # 2, 4, .., 10 min, then one coalesced run
    counted = {
        (dict(labels)["job"], dict(labels)["outcome"]): value
        for (name, labels), value in metrics.items()
        if name == "scheduler_runs_total"
    }
    assert counted == {key: float(n) for key, n in history.items()}
    for job in ("fine", "broken", "strict"):
        finished = [
            r for r in runs if r.job_id == job and str(r.outcome) in ("succeeded", "failed")
        ]
        label = (("job", job),)
        assert metrics[("scheduler_run_duration_seconds_count", label)] == len(finished)
        assert metrics[("scheduler_lateness_seconds_count", label)] == len(finished)
    missed = sum(n for (job, outcome), n in history.items() if outcome == "missed")
    assert metrics[("scheduler_fires_missed_total", (("job", "strict"),))] == missed
    last = max(r.finished_at for r in runs if r.job_id == "fine" and str(r.outcome) == "succeeded")
    assert metrics[("scheduler_last_success_timestamp_seconds", (("job", "fine"),))] == (
        last.timestamp()
    )
    assert ("scheduler_last_success_timestamp_seconds", (("job", "broken"),)) not in metrics
    assert metrics[("scheduler_jobs_running", ())] == 0.0
    assert metrics[("scheduler_store_up", ())] == 1.0


def test_gauges_are_read_when_scraped(registry) -> None:
    reg, url = registry
    gate, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(60)

    clock = VirtualClock(START)
    sched = Scheduler(clock=clock)
    sched.add_job(hold, Interval(minutes=1), id="hold")
    instrument(sched, registry=reg)
    try:
        with sched:
            clock.advance(minutes=1, scheduler=sched, wait=False)
            assert started.wait(5)
            assert scrape(url)[("scheduler_jobs_running", ())] == 1.0
            gate.set()
            settle(sched)
            assert scrape(url)[("scheduler_jobs_running", ())] == 0.0
        assert scrape(url)[("scheduler_store_up", ())] == 1.0  # the memory store always answers
    finally:
        gate.set()


def test_one_scheduler_per_registry() -> None:
    reg = CollectorRegistry()
    instrument(Scheduler(), registry=reg)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        instrument(Scheduler(), registry=reg)


def test_instrument_takes_a_scheduler() -> None:
    with pytest.raises(TypeError, match="instrument\\(\\) takes a Scheduler, got FlaskScheduler"):
        from scheduler.contrib.flask import FlaskScheduler

        instrument(FlaskScheduler(), registry=CollectorRegistry())  # type: ignore[arg-type]


_MULTIPROCESS_WORKER = """
import sys
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from scheduler import Interval, Scheduler
from scheduler.contrib.prometheus import instrument
from scheduler.testing import VirtualClock
from tests.contrib.test_prometheus import broken, fine

clock = VirtualClock("2026-03-02T12:00:00+00:00")
sched = Scheduler(clock=clock)
sched.add_job(fine, Interval(minutes=1), id="fine")
sched.add_job(broken, Interval(minutes=2), id="broken")
metrics = instrument(sched)  # the default registry: its values go to the directory's files
with sched:
    clock.advance(minutes=4, scheduler=sched)
    metrics.refresh()  # what its refresher thread does every few seconds
    if sys.argv[1] == "collect":  # what the /metrics view of a gunicorn app does
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        sys.stdout.write(generate_latest(registry).decode())
"""


def test_multiprocess_mode_aggregates_the_workers(tmp_path) -> None:
    """Two processes (gunicorn workers) write their values to PROMETHEUS_MULTIPROC_DIR; a
    MultiProcessCollector sums the counters and aggregates the gauges by their mode."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def worker(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _MULTIPROCESS_WORKER, mode],
            cwd=root, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    worker("run")  # a worker that has exited (its values stay in the directory)
    text = worker("collect")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    # each process ran fine 4 times and broken twice
    assert samples[("scheduler_runs_total", (("job", "fine"), ("outcome", "succeeded")))] == 8
    assert samples[("scheduler_runs_total", (("job", "broken"), ("outcome", "failed")))] == 4
    assert samples[("scheduler_run_duration_seconds_count", (("job", "fine"),))] == 8
    # the gauges, one value over both processes' files (mark_process_dead, which gunicorn's
    # child_exit hook calls, would drop the first one's from the live* modes)
    assert samples[("scheduler_jobs_running", ())] == 0.0
    assert samples[("scheduler_store_up", ())] == 1.0
    last = samples[("scheduler_last_success_timestamp_seconds", (("job", "fine"),))]
    assert last == datetime(2026, 3, 2, 12, 4, tzinfo=timezone.utc).timestamp()
