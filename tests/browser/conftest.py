"""A real headless Chromium for the dashboard's end-to-end tests, driven by Playwright.

Playwright drives the system's browser (Debian's ``chromium`` package) through
``executable_path``: ``playwright install`` (a download) is never needed. Outside CI a missing
browser or Playwright skips these tests with the command that installs them; under
``CI=true`` it fails them, so CI never passes without having run them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

INSTALL_BROWSER = "sudo apt-get install -y chromium chromium-driver"
INSTALL_PLAYWRIGHT = "pip install -e '.[test]'  (Playwright for Python; no 'playwright install')"
# Flags for a container without a display, a user namespace or a GPU, and no traffic of its
# own (no component updates, sync or QUIC probes): the page under test is the only network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HANG_GUARD = 60.0  # seconds: how long an effect in another process may take before we fail

T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is marked ``browser`` (``-m "not browser"`` leaves them out)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.browser)


def find_chromium() -> str | None:
    """``SCHEDULER_CHROMIUM`` when set, else the first Chromium on PATH or in /usr/bin."""
    explicit = os.environ.get("SCHEDULER_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
        if os.access(f"/usr/bin/{name}", os.X_OK):
            return f"/usr/bin/{name}"
    return None


def unavailable(what: str, install: str) -> None:
    message = f"the browser tests need {what}; install it with: {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session; each test gets its own context."""
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
    context.set_default_timeout(HANG_GUARD * 1000)
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


def wait_for(check: Callable[[], T | None], what: str, timeout: float = HANG_GUARD) -> T:
    """Poll ``check`` until it returns something truthy (returned), failing after ``timeout``
    seconds with ``what``. For effects in another process, which no event of ours reports;
    the deadline only guards against a hang."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.1)
