"""Passwords in store URLs never reach an error, a repr, a log line or the CLI (#10 item 4)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scheduler import Scheduler
from scheduler.exceptions import ConfigurationError, SchedulerError, StoreUnavailable
from scheduler.stores import from_url
from scheduler.stores._url import mask_in, mask_url

SECRET = "S3cr3tPW"

BAD_URLS = [
    pytest.param(f"postgresq://app:{SECRET}@db.internal:5432/app", id="scheme-typo"),
    pytest.param(f"postgresql://app:{SECRET}@[::1/app", id="pg-ipv6-unclosed"),
    pytest.param(f"postgresql://app:{SECRET}@db/app?port=notaport", id="pg-port"),
    pytest.param(f"postgresql://app:{SECRET}@db/app?sslmode=bogus", id="pg-sslmode"),
    pytest.param(f"postgresql://app@db/app?password={SECRET}&foo=1", id="pg-query-password"),
    pytest.param(f"postgresql://app:{SECRET}@db:99999/app", id="pg-port-range"),
    pytest.param(f"redis://:{SECRET}@cache:notaport/0", id="redis-port"),
    pytest.param(f"redis://:{SECRET}@cache:6379/notadb", id="redis-db"),
    pytest.param(f"redis://:{SECRET}@cache:6379/0?socket_timeout=x", id="redis-query"),
    pytest.param(f"redis://:{SECRET}@[::1:6379/0", id="redis-ipv6"),
    pytest.param(f"redis://cache:6379/0?password={SECRET}&db=x", id="redis-query-password"),
    pytest.param(f"rediss://user:{SECRET}@cache:6379/0?db=abc", id="rediss-db"),
    pytest.param(f"mysql://app:{SECRET}@db/app", id="unknown-scheme"),
    pytest.param(f"postgresql://app:p@ss/{SECRET}@db/app?sslmode=no", id="unencoded-at-slash"),
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_url_errors_mask_the_password(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as info:
        Scheduler(store=url)
    exc = info.value
    shown = [str(exc), repr(exc), caplog.text]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not exc.__suppress_context__:
        shown.append(str(cause))
    for text in shown:
        assert SECRET not in text, text
    assert "***" in str(exc) or "password" not in url, str(exc)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app:{SECRET}@127.0.0.1:1/app?connect_timeout=1",
        f"redis://:{SECRET}@127.0.0.1:1/0",
    ],
)
def test_unreachable_store_and_reprs_mask_the_password(url: str) -> None:
    store = from_url(url)
    assert SECRET not in repr(store)
    with pytest.raises(StoreUnavailable) as info:
        store.open()
    assert SECRET not in str(info.value)
    store.close()


def test_cli_output_masks_the_password(tmp_path: Path) -> None:
    (tmp_path / "badstore.py").write_text(textwrap.dedent(f"""
        from scheduler import Scheduler
        def make():
            return Scheduler(store="postgresq://app:{SECRET}@db/app")
    """))
    for command in ("list", "run"):
        done = subprocess.run(
            [sys.executable, "-m", "scheduler", command, "badstore:make"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert SECRET not in done.stdout + done.stderr
        assert "app:***@db" in done.stderr


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:pw@db/x", "postgresql://app:***@db/x"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql://app:pw@[::1]:5432/x", "postgresql://app:***@[::1]:5432/x"),
        ("postgresql://app:pw@[::1/x", "postgresql://app:***@[::1/x"),
        ("postgresql://db/x?sslmode=require&password=pw", "postgresql://db/x?sslmode=require&password=***"),
        ("host=db password='p w' user=a", "host=db password=*** user=a"),
        ("app:pw@db", "app:***@db"),
        ("sqlite:////var/lib/x.db", "sqlite:////var/lib/x.db"),
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_in_hides_the_decoded_password_in_driver_messages() -> None:
    url = "postgresql://app:p%40ss@db/x"
    assert mask_in('bad "postgresql://app:p%40ss@db/x", tried p@ss', url) == (
        'bad "postgresql://app:***@db/x", tried ***'
    )
    assert isinstance(mask_url(None), str)  # never raises
    assert issubclass(ConfigurationError, SchedulerError)
