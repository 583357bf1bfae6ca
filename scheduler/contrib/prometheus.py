"""Prometheus metrics of a scheduler (extra ``[prometheus]``: ``prometheus-client``).

::

    from prometheus_client import start_http_server
    from scheduler.contrib.prometheus import instrument

    instrument(sched)              # into prometheus_client's default registry
    start_http_server(9108)        # in the process that runs the jobs

The metrics (``job`` is the job id):

* ``scheduler_runs_total{job,outcome}``: fires by outcome (succeeded, failed, timed_out,
  skipped, missed, lost); one per fire, as the run history counts them
* ``scheduler_run_duration_seconds{job}``: histogram of the runs that succeeded or failed
* ``scheduler_lateness_seconds{job}``: histogram of start minus scheduled time (first attempt)
* ``scheduler_last_success_timestamp_seconds{job}``: Unix time of the last success (alert on
  ``time() - scheduler_last_success_timestamp_seconds > ...``)
* ``scheduler_jobs_running``: jobs with a run under way in this process
* ``scheduler_store_up``: 1 while the store answers, 0 during an outage
* ``scheduler_fires_missed_total{job}``: fires recorded missed (too late to start)

Counters and histograms are driven by the scheduler's events (:mod:`scheduler.events`), on
the thread that emits them; the two gauges are read when scraped (the runner's live runs and
the store's outage state: no store call, nothing computed per job). A lost run is counted by
the instance that found it (a peer, when the owner was killed), so sum over instances. A lost
run that is retried counts ``lost`` and then its retry's outcome.

**gunicorn and other pre-fork servers** (a scheduler in each worker, autostart on): set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the server starts, serve
``/metrics`` with a registry holding ``prometheus_client.multiprocess.MultiProcessCollector``,
and call ``multiprocess.mark_process_dead(worker.pid)`` from gunicorn's ``child_exit`` hook.
In that mode a scrape cannot call into each worker, so each worker sets the gauges every
:data:`REFRESH` seconds and when a run starts (``scheduler_jobs_running`` may count a run
that just ended until the next refresh), and they are aggregated with
``multiprocess_mode``: ``scheduler_jobs_running`` is ``livesum`` (summed over live workers),
``scheduler_store_up`` is ``livemin`` (0 when any live worker cannot reach the store) and
``scheduler_last_success_timestamp_seconds`` is ``max``. Counters and histograms need nothing.
With the recommended layout (one scheduler process, web workers with autostart off) none of
this is needed: serve the scheduler process's metrics with ``start_http_server``.

One scheduler per registry (the metric names are fixed); pass ``registry=`` to instrument
another.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import TYPE_CHECKING

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'scheduler.contrib.prometheus needs prometheus-client: pip install "threadcron[prometheus]"'
    ) from exc

from .._probe import running_and_store
from ..events import (
    Event,
    JobFailed,
    JobLost,
    JobMissed,
    JobSkipped,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
    SchedulerShutdown,
)

if TYPE_CHECKING:
    from ..scheduler import Scheduler

__all__ = ["REFRESH", "SchedulerMetrics", "instrument"]

#: multiprocess mode: how often (seconds) each process sets its gauges
REFRESH = 5.0
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

_OUTCOMES: dict[type[Event], str] = {
    JobSucceeded: "succeeded",
    JobFailed: "failed",
    JobTimedOut: "timed_out",
    JobSkipped: "skipped",
    JobMissed: "missed",
    JobLost: "lost",
}


def multiprocess_mode() -> bool:
    """prometheus-client's own test: the directory its multiprocess values go to is set."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class SchedulerMetrics:
    """The metrics of one scheduler, and the listener that drives them (see the module)."""

    def __init__(self, sched: Scheduler, registry: CollectorRegistry) -> None:
        self._sched = sched
        self.runs = Counter(
            "scheduler_runs", "Fires of each job by outcome", ["job", "outcome"],
            registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "scheduler_run_duration_seconds", "Run time of runs that succeeded or failed",
            ["job"], buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip
        self.lateness = Histogram(
            "scheduler_lateness_seconds", "Start minus scheduled time (first attempt)",
            ["job"], buckets=LATENESS_BUCKETS, registry=registry,
        )  # fmt: skip
        self.last_success = Gauge(
            "scheduler_last_success_timestamp_seconds", "Unix time of the last success",
            ["job"], registry=registry, multiprocess_mode="max",
        )  # fmt: skip
        self.running = Gauge(
            "scheduler_jobs_running", "Jobs with a run under way",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.store_up = Gauge(
            "scheduler_store_up", "1 while the store answers, 0 during an outage",
            registry=registry, multiprocess_mode="livemin",
        )  # fmt: skip
        self.missed = Counter(
            "scheduler_fires_missed", "Fires recorded missed (too late to start)", ["job"],
            registry=registry,
        )  # fmt: skip
        self._multiprocess = multiprocess_mode()
        self._stop = threading.Event()
        if self._multiprocess:
            self.refresh()
            threading.Thread(target=self._refresher, name="scheduler-metrics", daemon=True).start()
        else:  # read when scraped
            self.running.set_function(lambda: float(running_and_store(self._sched)[0]))
            self.store_up.set_function(lambda: float(running_and_store(self._sched)[1]))

    def refresh(self) -> None:
        """Set the gauges from the scheduler's state now (multiprocess mode)."""
        running, store_up = running_and_store(self._sched)
        self.running.set(running)
        self.store_up.set(1 if store_up else 0)

    def _refresher(self) -> None:
        while not self._stop.wait(REFRESH):
            try:
                self.refresh()
            except Exception:
                continue

    def on_event(self, event: Event) -> None:
        """The listener (events run on the emitting thread: keep it short)."""
        if isinstance(event, SchedulerShutdown):
            self._stop.set()
            if self._multiprocess:
                self.running.set(0)  # its file outlives it until mark_process_dead
            return
        if isinstance(event, JobStarted):
            if event.attempt == 1:
                late = (event.timestamp - event.scheduled_time).total_seconds()
                self.lateness.labels(event.job_id).observe(max(0.0, late))
            if self._multiprocess:
                self.refresh()
            return
        outcome = _OUTCOMES.get(type(event))
        if outcome is None:
            return
        job = event.job_id  # type: ignore[attr-defined]
        self.runs.labels(job, outcome).inc()
        if isinstance(event, (JobSucceeded, JobFailed)):
            self.duration.labels(job).observe(event.duration)
        if isinstance(event, JobSucceeded):
            self.last_success.labels(job).set(_unix(event.timestamp))
        elif isinstance(event, JobMissed):
            self.missed.labels(job).inc()


def _unix(when: datetime) -> float:
    return when.timestamp()


def instrument(sched: Scheduler, registry: CollectorRegistry | None = None) -> SchedulerMetrics:
    """Register the scheduler's metrics in ``registry`` (prometheus-client's default one
    when None) and keep them current from its events. Call it once per scheduler, before or
    after ``start()``.

    :raises ValueError: the registry has these metrics already (another scheduler)
    :raises TypeError: ``sched`` is not a :class:`~scheduler.Scheduler`
    """
    from ..scheduler import Scheduler

    if not isinstance(sched, Scheduler):
        raise TypeError(f"instrument() takes a Scheduler, got {type(sched).__name__}")
    metrics = SchedulerMetrics(sched, REGISTRY if registry is None else registry)
    sched.add_listener(metrics.on_event, events=[JobStarted, SchedulerShutdown, *_OUTCOMES])
    return metrics
