"""The job table that ``scheduler list``, ``flask scheduler list`` and ``manage.py
scheduler_jobs list`` print: id, trigger in words, next and last run in the job's zone.

Text from the store is printed with control characters escaped: whoever wrote a row must not
get to send escape sequences to the terminal.

Threads and state: none; it reads the scheduler's public API and its store.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from .exceptions import SchedulerError

if TYPE_CHECKING:
    from .scheduler import Scheduler

__all__ = ["format_jobs"]


def _next_run(job: Any) -> datetime | None:
    nxt = getattr(job, "next_run_time", None)
    if nxt is None and not getattr(job, "paused", False):
        # Not started yet: compute it the way the scheduler will.
        nxt = job.trigger.next_after(datetime.now(timezone.utc))
    if nxt is None:
        return None
    tz = getattr(job, "timezone", None) or getattr(job.trigger, "timezone", None)
    result: datetime = nxt.astimezone(tz) if tz is not None else nxt
    return result


def _last_run(sched: Scheduler, job_id: str, tz: tzinfo | None) -> str:
    """The last run's outcome and start time, in the job's zone (as NEXT RUN is)."""
    try:
        runs = sched.get_runs(job_id=job_id, limit=1)
    except SchedulerError:
        return "?"
    if not runs:
        return "-"
    run = runs[0]
    outcome = str(run.outcome) if run.outcome is not None else "running"
    if run.cancel_requested:
        outcome += " (cancel requested)"
    when = run.started_at or run.scheduled_time
    if when is None:
        return outcome
    local = when.astimezone(tz) if tz is not None else when
    return f"{outcome} {local.isoformat(sep=' ', timespec='seconds')}"


def _printable(value: object) -> str:
    """Text from a store row, with control characters escaped: whoever wrote the row must
    not get to send escape sequences to the terminal."""
    text = str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _broken_jobs(sched: Scheduler, shown: set[str]) -> list[tuple[str, str, str]]:
    """``(id, function, reason)`` of the stored jobs marked broken (never run), read from a
    durable store; none when it cannot be read (``list`` must not fail for that)."""
    if not sched.store.durable:
        return []
    try:
        stored = sched.store.load_jobs(dynamic_only=True)
    except Exception:  # an outage, or a row it cannot read: the table is still worth printing
        return []
    return [
        (_printable(item.definition.id), _printable(item.definition.func_ref),
         _printable(item.broken))
        for item in stored
        if item.broken and item.definition.id not in shown
    ]


def format_jobs(sched: Scheduler) -> str:
    """The scheduler's jobs as a plain-text table: id (jobs added at run time marked
    ``(dynamic)``), trigger in words, next run and last run in the job's zone, last outcome.

    Shared with the Flask and Django commands, so all three print the same thing.
    """
    rows = [("ID", "TRIGGER", "NEXT RUN", "LAST RUN")]
    shown: set[str] = set()
    for job in sched.get_jobs():
        broken = getattr(job, "broken", None)
        if broken is not None:
            when = f"broken: {_printable(broken)}"
        elif getattr(job, "paused", False):
            when = "paused"
        else:
            nxt = _next_run(job)
            when = "never" if nxt is None else nxt.isoformat(sep=" ")
        label = _printable(job.id) + (" (dynamic)" if getattr(job, "dynamic", False) else "")
        tz = getattr(job, "timezone", None)
        rows.append((label, job.trigger.describe(), when, _last_run(sched, job.id, tz)))
        shown.add(str(job.id))
    stored_broken = _broken_jobs(sched, shown)
    for job_id, ref, _ in stored_broken:
        rows.append((job_id, f"function {ref}", "BROKEN (never runs)", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if len(rows) == 1:
        lines.append("(no jobs)")
    for job_id, _, reason in stored_broken:
        lines.append(f"broken {job_id}: {reason}")
    return "\n".join(lines) + "\n"
