"""Real processes for the browser tests: the scheduler worker and the servers under test.

Each is started with this checkout first on ``PYTHONPATH`` (so it imports the code under
test), waits for the line that says it is ready (a deadline guards only against a hang) and
is stopped with SIGTERM (SIGKILL if it does not exit) when the fixture ends. Its stderr goes
to a file that a failure's message includes.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.browser.harness import HANG_GUARD

ROOT = Path(__file__).resolve().parents[2]


class Process:
    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.args = args
        self.stderr = tempfile.TemporaryFile(mode="w+b")
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        full_env.update(env or {})
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr, text=True, bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def error_output(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")[-4000:]

    def wait_for_line(self, prefix: str, timeout: float = HANG_GUARD) -> str:
        """The first stdout line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{self.args} printed no {prefix!r} line in {timeout:.0f} s:\n"
                            f"{self.error_output()}", pytrace=False)
            if line is None:
                self.popen.wait()
                pytest.fail(f"{self.args} exited ({self.popen.returncode}) before printing "
                            f"{prefix!r}:\n{self.error_output()}", pytrace=False)
            if line.startswith(prefix):
                return line

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=HANG_GUARD)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.stderr.close()
        return self.popen.returncode


@contextmanager
def running(args: list[str], env: dict[str, str] | None = None) -> Iterator[Process]:
    proc = Process(args, env)
    try:
        yield proc
    finally:
        proc.stop()
