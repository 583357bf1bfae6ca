"""A real headless Chromium for the dashboard's end-to-end tests, driven by Playwright.

Playwright drives the system's browser (Debian's ``chromium`` package) through
``executable_path``: ``playwright install`` (a download) is never needed. Outside CI a missing
browser or Playwright skips these tests with the command that installs them; under
``CI=true`` it fails them, so CI never passes without having run them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import (
    CHROMIUM_ARGS,
    INSTALL_BROWSER,
    INSTALL_PLAYWRIGHT,
    PAGE_TIMEOUT,
    find_chromium,
    unavailable,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is marked ``browser`` (``-m "not browser"`` leaves them out)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the tests of this package; each test gets its own context.

    Package scope, not session: Playwright's sync API keeps an asyncio loop running in the
    main thread while it is open, and Django refuses database calls from a thread with a
    running loop (``SynchronousOnlyOperation``), so the browser must be closed before the
    Django tests of the same session run."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python", INSTALL_PLAYWRIGHT)
    executable = find_chromium()
    if executable is None:
        unavailable("Chromium", INSTALL_BROWSER)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in a fresh context (no cookies shared between tests). A dialog (an
    ``alert`` an injected script might open) is recorded in ``page.dialogs`` and dismissed."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT * 1000)
    pg = context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.console_errors = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        pg.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()
