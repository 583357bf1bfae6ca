"""``scheduler dashboard --store URL``: arguments, masking, the server, and a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler import Scheduler
from scheduler._cli_dashboard import parse_bind, serve
from scheduler.cli import main
from scheduler.dashboard import CSP
from scheduler.stores import from_url

from . import jobs

HANG_GUARD = 60  # seconds; a hang guard, never an assertion about speed
ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_bad_url_exits_2_with_the_password_masked(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "dashboard", "--store", "mysql://app:hunter2@db/app")
    assert code == 2
    assert "unknown store URL scheme" in err and "hunter2" not in err and "***" in err


def test_an_unreachable_store_exits_1_with_the_password_masked(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "dashboard", "--store",
                           "postgresql://app:hunter2@127.0.0.1:1/app?connect_timeout=2")
    assert code == 1
    assert "cannot reach the store" in err and "hunter2" not in err


@pytest.mark.parametrize("bind", ["nonsense", "127.0.0.1:99999", "host:port"])
def test_a_bad_bind_exits_2(capsys: pytest.CaptureFixture[str], bind: str) -> None:
    code, _, err = run_cli(capsys, "dashboard", "--store", "memory", "--bind", bind)
    assert code == 2 and "--bind" in err


def test_a_store_private_to_one_process_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "dashboard", "--store", "memory")
    assert code == 2 and "private to one process" in err
    code, _, err = run_cli(capsys, "dashboard", "--store", "memory", "--prefix", "x_")
    assert code == 2 and "--prefix does not apply" in err


def test_a_bad_zone_exits_2_before_the_store_is_opened(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "dashboard", "--store", "postgresql://app:pw@127.0.0.1:1/x",
                           "--timezone", "Mars/Olympus")
    assert code == 2 and "--timezone" in err and "Mars/Olympus" in err


def test_the_prefix_names_the_schedulers_tables(tmp_path: Path) -> None:
    from scheduler._cli_dashboard import build_store

    url = f"sqlite:///{tmp_path}/jobs.db"
    sched = Scheduler(store=from_url(url, prefix="ops_"))
    sched.add_job(jobs.tidy, "*/10 * * * *", id="tidy")
    sched.start()
    sched.shutdown()
    for prefix, ids in (("ops_", ["tidy"]), (None, [])):
        store = build_store(url, prefix)
        store.open()
        try:
            assert [i.definition.id for i in store.load_jobs(dynamic_only=False)] == ids
        finally:
            store.close()


def test_bind_forms() -> None:
    assert parse_bind("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_bind("9000") == ("127.0.0.1", 9000)
    assert parse_bind("[::1]:8080") == ("::1", 8080)
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/jobs.db"
    sched = Scheduler(store=url)
    sched.add_job(jobs.tidy, "*/10 * * * *", id="tidy")
    sched.start()  # registers the job in the store
    sched.shutdown()
    return url


@pytest.fixture
def served(store_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    store = from_url(store_url)
    store.open()
    server = serve(store, port=0, allow_actions=getattr(request, "param", False), quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(HANG_GUARD)
    store.close()


def _fetch(url: str, data: bytes | None = None, cookie: str = "") -> tuple[int, dict[str, str],
                                                                           str]:
    req = urllib.request.Request(url, data=data, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(req, timeout=HANG_GUARD) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_server_is_read_only_by_default(served: str) -> None:
    status, headers, body = _fetch(served + "/")
    assert status == 200 and headers["Content-Security-Policy"] == CSP
    assert "tidy" in body and "Run now" not in body
    assert _fetch(served + "/action", b"job_id=tidy&action=pause")[0] == 403
    assert _fetch(served + "/job?id=tidy")[0] == 200


@pytest.mark.parametrize("served", [True], indirect=True)
def test_allow_actions_shows_buttons_guarded_by_csrf(served: str) -> None:
    status, headers, body = _fetch(served + "/job?id=tidy")
    assert "Run now" in body
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', body)
    assert token is not None
    assert _fetch(served + "/action", b"job_id=tidy&action=pause", cookie)[0] == 403
    form = f"job_id=tidy&action=pause&back=job&csrf_token={token.group(1)}".encode()
    status, _, body = _fetch(served + "/action", form, cookie)
    # 200 after the redirect when the store can pause jobs; 501 until it can
    assert status in (200, 501)
    if status == 200:
        assert "Paused:" in body


def test_the_command_serves_until_sigterm(store_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "dashboard", "--store",
         store_url, "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/) \(read-only\)", line)
        assert match, line
        status, _, body = _fetch(match.group(1))
        assert status == 200 and "tidy" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(HANG_GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(HANG_GUARD)


def test_a_public_bind_warns(store_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "dashboard", "--store", store_url,
         "--bind", "0.0.0.0:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        warning = proc.stdout.readline()
        assert "reachable from other machines" in warning and "no login" in warning
        proc.send_signal(signal.SIGINT)
        assert proc.wait(HANG_GUARD) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(HANG_GUARD)


@pytest.mark.postgres
def test_a_password_in_the_url_is_shown_nowhere() -> None:
    from urllib.parse import urlsplit, urlunsplit

    from scheduler.stores.postgresql import PostgreSQLStore
    from tests.services import require, unique_prefix

    base = urlsplit(require("postgresql"))
    user = base.username or "postgres"
    netloc = f"{user}:hunter2@{base.hostname}:{base.port or 5432}"  # trust auth ignores it
    url = urlunsplit(base._replace(netloc=netloc))
    prefix = unique_prefix()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "dashboard", "--store", url, "--prefix", prefix,
         "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "hunter2" not in line and f"{user}:***@" in line, line
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        for path in ("", "runs", "job?id=nope"):
            _, _, body = _fetch(match.group(1) + path)
            assert "hunter2" not in body
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=HANG_GUARD)
        assert proc.returncode == 0 and "hunter2" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(HANG_GUARD)
        store = PostgreSQLStore(url, prefix=prefix)
        store.drop_schema()
        store.close()
