"""Helpers of the browser tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import TypeVar

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
PAGE_TIMEOUT = 15.0  # seconds: how long Playwright waits for an element or a navigation

T = TypeVar("T")


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
