"""The timeline of a job's last runs, drawn on the server as SVG (no script, no inline
style: colours come from classes in ``dashboard.css``, which the strict CSP allows).

One bar per run, oldest on the left; its height is the run's duration (relative to the
longest shown), its class its outcome (``o-failed``...). A run that started later than its
scheduled time by more than :data:`LATE_AFTER` seconds gets a marker above its bar. Each bar
carries a ``<title>`` (the browser's tooltip) with the facts in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING

from ._html import HTML, h, join
from ._words import duration_words, local_time

if TYPE_CHECKING:
    from ..stores import RunRecord

__all__ = ["LATE_AFTER", "lateness", "outcome_name", "timeline_svg"]

#: seconds between the scheduled time and the start above which a run is marked late
LATE_AFTER = 1.0

WIDTH, HEIGHT, TOP, BOTTOM, LEFT = 720, 140, 18, 20, 4
#: bars shown at most (the newest)
MAX_BARS = 60
#: bar height of a run that has no duration (missed, skipped, never started)
STUB = 4
#: the lowest bar of a run that has a duration (a very short run stays visible)
MIN_BAR = 6


def outcome_name(run: RunRecord) -> str:
    """``succeeded``, ``failed``, ...; without an outcome yet, ``queued`` (a requested run
    no instance has claimed) or ``running`` (claimed, starting or started)."""
    if run.outcome is not None:
        return str(run.outcome)
    return "queued" if run.claimed_at is None else "running"


def lateness(run: RunRecord) -> float | None:
    """Seconds between the scheduled time and the start; None when it did not start."""
    if run.started_at is None:
        return None
    return (run.started_at - run.scheduled_time).total_seconds()


def _label(run: RunRecord, zone: tzinfo | None) -> str:
    parts = [local_time(run.scheduled_time, zone), outcome_name(run)]
    if run.duration is not None:
        parts.append(f"took {duration_words(run.duration)}")
    late = lateness(run)
    if late is not None and late > LATE_AFTER:
        parts.append(f"started {duration_words(late)} late")
    if run.error:
        parts.append(run.error.splitlines()[0][:200])
    return " - ".join(parts)


def timeline_svg(runs: Sequence[RunRecord], zone: tzinfo | None = None) -> HTML:
    """The SVG picture of ``runs`` (newest first, as stores return them)."""
    shown = list(reversed(list(runs)[:MAX_BARS]))
    if not shown:
        return HTML('<p class="muted">No runs yet.</p>')
    measured = max((r.duration or 0.0 for r in shown), default=0.0)
    longest = measured or 1.0  # the scale; every bar a stub or minimal when nothing took time
    slot = (WIDTH - 2 * LEFT) / max(len(shown), 20)
    width = max(2.0, slot * 0.7)
    usable = HEIGHT - TOP - BOTTOM
    base = HEIGHT - BOTTOM
    parts: list[HTML] = []
    for i, run in enumerate(shown):
        x = LEFT + i * slot
        height = STUB if run.duration is None else max(MIN_BAR, run.duration / longest * usable)
        parts.append(h(
            '<rect class="bar o-{}" x="{}" y="{}" width="{}" height="{}">'
            "<title>{}</title></rect>",
            outcome_name(run), f"{x:.1f}", f"{base - height:.1f}", f"{width:.1f}",
            f"{height:.1f}", _label(run, zone),
        ))
        late = lateness(run)
        if late is not None and late > LATE_AFTER:
            cx, top = x + width / 2, base - height - 4
            parts.append(h(
                '<path class="late" d="M{} {} l4 -7 h-8 z"><title>{}</title></path>',
                f"{cx:.1f}", f"{top:.1f}", f"started {duration_words(late)} late",
            ))
    axis = h(
        '<line class="axis" x1="0" y1="{}" x2="{}" y2="{}"></line>'
        '<text class="axis-label" x="{}" y="12">longest: {}</text>'
        '<text class="axis-label" x="{}" y="{}">oldest</text>'
        '<text class="axis-label end" x="{}" y="{}">newest</text>',
        base, WIDTH, base, LEFT, duration_words(measured), LEFT, HEIGHT - 4,
        WIDTH - LEFT, HEIGHT - 4,
    )
    svg = h(
        '<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
        'role="img" aria-label="{}">{}{}</svg>',
        WIDTH, HEIGHT, f"timeline of the last {len(shown)} runs", axis, join(parts),
    )
    seen = sorted({outcome_name(r) for r in shown})
    legend = [h('<span class="pill o-{}">{}</span>', name, name) for name in seen]
    if any((lateness(r) or 0.0) > LATE_AFTER for r in shown):
        legend.append(h('<span class="late-mark">&#9660; started late (more than {})</span>',
                        duration_words(LATE_AFTER)))
    legend.append(HTML('<span class="muted">height: how long it took</span>'))
    return h('{}<p class="legend">{}</p>', svg, join(legend, " "))
