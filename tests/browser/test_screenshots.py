"""Screenshots of the three pages (overview, job, runs) from the demo data set
(:mod:`tests.browser.demo`), served by the standalone server with a live scheduler process.

They go to a temporary directory, or to ``$SCHEDULER_SCREENSHOTS`` when set: the README's
pictures are made with ``SCHEDULER_SCREENSHOTS=docs pytest tests/browser/test_screenshots.py``.
"""

from __future__ import annotations

import os
import struct
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scheduler.stores import RunOutcome
from tests.browser.demo import REQUESTED, seed
from tests.browser.harness import wait_for
from tests.browser.processes import ROOT, running
from tests.browser.sites import sqlite_store, start_standalone

PAGES = ("overview", "job", "runs")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def shoot(page: Any, path: Path, height: int | None = None) -> None:
    """The whole page, or its top ``height`` pixels (the run tables are long)."""
    if height is None:
        page.screenshot(path=str(path), full_page=True)
        return
    full = page.evaluate("() => document.documentElement.scrollHeight")
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1280, "height": min(full, height)})


def test_screenshots_of_the_three_pages(browser: Any, tmp_path: Path) -> None:
    target = os.environ.get("SCHEDULER_SCREENSHOTS")
    out = (ROOT / target) if target else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    with sqlite_store() as (url, store, _tmp):
        seed(store, datetime.now(timezone.utc))
        with running([sys.executable, "-m", "tests.browser.worker", "--demo", url]) as worker:
            worker.wait_for_line("ready")
            job_id, who = REQUESTED
            store.request_run(job_id, requested_by=who)
            wait_for(lambda: any(r.outcome is RunOutcome.SUCCEEDED
                                 for r in store.get_runs(job_id, 5)),
                     "the scheduler process to run the requested job")
            server, base = start_standalone(url, "--allow-actions",
                                            "--timezone", "Europe/Bratislava")
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(base)
                job_links = page.locator("tbody tr td:first-child a[href*='job?id=']")
                assert job_links.count() == 6
                shoot(page, out / "dashboard-overview.png")
                page.goto(f"{base}job?id=sync-inventory")
                assert page.locator("svg").count() >= 1
                shoot(page, out / "dashboard-job.png", height=1500)
                page.goto(f"{base}runs")
                shoot(page, out / "dashboard-runs.png", height=1100)
                context.close()
            finally:
                server.stop()
    for name in PAGES:
        width, height = png_size(out / f"dashboard-{name}.png")
        assert width == 1280 and height >= 400
