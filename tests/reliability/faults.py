"""Fault injection for the reliability suite: a TCP proxy and a child-process harness.

:class:`FaultProxy` sits between a scheduler and PostgreSQL or Redis. It forwards bytes both
ways and, on request, cuts every connection (:meth:`FaultProxy.cut`), refuses new ones for a
while (:meth:`FaultProxy.down`, a simulated server restart without touching the shared
server), delays the server's answers (:attr:`FaultProxy.delay`), or lets one marked request
through and then drops the connection before its reply comes back
(:meth:`FaultProxy.cut_after`, "connection lost right after COMMIT").

:class:`Worker` runs ``tests/reliability/worker.py`` in a real process and lets the test wait
for the lines it prints (with a timeout that is a hang guard, not a measurement).

:func:`check_history` is the equality every scenario ends with: each fire has exactly one run
record, with a final outcome.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"succeeded", "failed", "timed_out", "skipped", "missed", "lost", "uncertain"}


# -- the proxy ---------------------------------------------------------------------------------
@dataclass(eq=False)
class _Pair:
    client: socket.socket
    server: socket.socket
    marked: bool = False
    mute: bool = False  #: drop the server's bytes (a reply lost on the way back)
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@dataclass(eq=False)
class _Rule:
    mark: bytes  #: a request containing this marks its connection
    match: bytes  #: the marked connection's next request containing this is the victim
    fired: threading.Event = field(default_factory=threading.Event)


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target`` (``host:port`` or a service URL)."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target_url = target_url
        self.target = (parts.hostname or "127.0.0.1", parts.port or 0)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._refuse_until = 0.0
        self._rule: _Rule | None = None
        self._stop = threading.Event()
        #: seconds added before each chunk the server sends back (a slow store)
        self.delay = 0.0
        #: connections accepted in total (a reconnect storm shows here)
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The target URL with the proxy's address in place of the server's."""
        parts = urlsplit(self.target_url)
        netloc = parts.netloc.rsplit("@", 1)
        where = f"127.0.0.1:{self.port}"
        netloc_new = f"{netloc[0]}@{where}" if len(netloc) == 2 else where
        return urlunsplit(parts._replace(netloc=netloc_new))

    # -- faults ----------------------------------------------------------------------------
    def cut(self) -> int:
        """Close every open connection at once (both sides); returns how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair.close()
        return len(pairs)

    def down(self, seconds: float | None = None) -> None:
        """Cut everything and refuse new connections for ``seconds`` (None: until up())."""
        with self._lock:
            self._refuse_until = float("inf") if seconds is None else time.monotonic() + seconds
        self.cut()

    def up(self) -> None:
        with self._lock:
            self._refuse_until = 0.0

    def cut_after(self, mark: bytes, match: bytes) -> threading.Event:
        """Once: on the first connection that sends ``mark``, forward its next request that
        contains ``match`` (e.g. ``COMMIT``), then drop that connection before the server's
        reply reaches the client. The returned Event is set when it happened."""
        rule = _Rule(mark=mark, match=match)
        self._rule = rule
        return rule.fired

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                client.close()  # the server is "down": connection refused/reset
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, server)
            with self._lock:
                self._pairs.append(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair: _Pair) -> None:
        socks = [pair.client, pair.server]
        try:
            while not pair.closed:
                readable, _, _ = select.select(socks, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is pair.client:
                        if self._client_data(pair, data):
                            return
                    elif not pair.mute:
                        if self.delay:
                            time.sleep(self.delay)
                        pair.client.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            pair.close()
            with self._lock:
                if pair in self._pairs:
                    self._pairs.remove(pair)

    def _client_data(self, pair: _Pair, data: bytes) -> bool:
        """Forward a client chunk; True when the connection must end now."""
        rule = self._rule
        if rule is not None and not rule.fired.is_set():
            if not pair.marked and rule.mark in data:
                pair.marked = True
                if rule.mark == rule.match:
                    return self._victim(pair, data, rule)
            elif pair.marked and rule.match in data:
                return self._victim(pair, data, rule)
        pair.server.sendall(data)
        return False

    def _victim(self, pair: _Pair, data: bytes, rule: _Rule) -> bool:
        pair.mute = True
        pair.server.sendall(data)
        # let the server execute it, then hang up: the client never sees the reply
        time.sleep(0.3)
        self._rule = None
        rule.fired.set()
        return True


# -- child processes -----------------------------------------------------------------------------
class Worker:
    """``python -m tests.reliability.worker SPEC`` in a real process.

    The worker prints one line per milestone (``ready``, ``started``, ``stopped ...``); its
    log goes to ``log_path``.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        log_path: Path,
        *,
        argv: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        self._log = open(log_path, "wb")
        env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        cmd = argv or [sys.executable, "-m", "tests.reliability.worker", json.dumps(spec)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<eof>")
            self._cond.notify_all()

    def wait_for(self, prefix: str, timeout: float = 20.0) -> str:
        """The first printed line starting with ``prefix`` (hang guard: ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                if "<eof>" in self.lines:
                    raise AssertionError(
                        f"worker {self.pid} exited (rc {self.proc.poll()}) before printing "
                        f"{prefix!r}; log:\n{self.log()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"worker {self.pid} did not print {prefix!r} in {timeout}s; log:\n"
                        f"{self.log()}"
                    )
                self._cond.wait(left)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._reader.join(timeout=5)
            self._log.close()

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def release(go_file: Path) -> None:
    """Open the file barrier the workers of one test wait on (they poll for the file)."""
    go_file.write_text("go")


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.05) -> Any:
    """Poll ``predicate`` until truthy (for state in another process); hang guard ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


# -- what every scenario ends with -------------------------------------------------------------
def utc_iso(when: Any) -> str:
    return when.astimezone(timezone.utc).isoformat()


def read_records(path: Path) -> list[tuple[str, str, int, int]]:
    """Lines ``job_id fire pid attempt`` written by :func:`tests.reliability.jobs.record`."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        job_id, fire, pid, attempt = line.split(" ")
        out.append((job_id, fire, int(pid), int(attempt)))
    return out


def check_history(runs: Iterable[Any], *, allow_open: bool = False) -> Counter[str]:
    """Every fire has exactly one run record with a final outcome; returns outcome counts."""
    runs = list(runs)
    keys = Counter((r.job_id, r.scheduled_time) for r in runs)
    dupes = {k: n for k, n in keys.items() if n > 1}
    assert not dupes, f"fires with more than one run record: {dupes}"
    outcomes = Counter(str(r.outcome) if r.outcome is not None else "open" for r in runs)
    if not allow_open:
        assert "open" not in outcomes, f"runs without an outcome: {outcomes}"
    assert set(outcomes) <= FINAL | {"open"}, outcomes
    return outcomes


def side_effects_match(records: list[tuple[str, str, int, int]], runs: Iterable[Any]) -> None:
    """Side effects never exceed claims: each (job, fire, attempt) ran at most once, and only
    for fires the store has a run of."""
    seen = Counter((j, f, a) for j, f, _, a in records)
    twice = {k: n for k, n in seen.items() if n > 1}
    assert not twice, f"side effects ran twice: {twice}"
    claimed = {(r.job_id, utc_iso(r.scheduled_time)) for r in runs}
    extra = {(j, f) for j, f, _, _ in records} - claimed
    assert not extra, f"side effects without a claim: {extra}"
