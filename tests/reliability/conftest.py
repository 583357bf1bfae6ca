"""Fixtures of the reliability suite: one shared store per test, on each backend."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scheduler.stores import Store, from_url
from tests.services import require, unique_prefix

from .faults import Worker


@dataclass
class SharedStore:
    """A store URL and prefix that several processes (and the test) open."""

    kind: str
    url: str
    prefix: str
    tmp: Path

    def open(self, url: str | None = None, **options: Any) -> Store:
        store = from_url(url or self.url, prefix=self.prefix, **options)
        store.open()
        self._opened.append(store)
        return store

    def spec(self, jobs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"url": self.url, "prefix": self.prefix, "jobs": jobs, **extra}

    def worker(self, spec: dict[str, Any], name: str = "w", **options: Any) -> Worker:
        n = len(self._workers)
        worker = Worker(spec, self.tmp / f"{name}{n}.log", **options)
        self._workers.append(worker)
        return worker

    def __post_init__(self) -> None:
        self._opened: list[Store] = []
        self._workers: list[Worker] = []

    def cleanup(self) -> None:
        for worker in self._workers:
            worker.kill()
        for store in self._opened:
            with contextlib.suppress(Exception):
                store.close()
        if self.kind == "sqlite":
            return
        store = from_url(self.url, prefix=self.prefix)
        try:
            if self.kind == "postgresql":
                store.drop_schema()  # type: ignore[attr-defined]
            else:
                store.drop_keys()  # type: ignore[attr-defined]
        finally:
            store.close()


def _make(kind: str, tmp: Path) -> SharedStore:
    if kind == "sqlite":
        url = f"sqlite:///{tmp / 'store.db'}"
    else:
        url = require(kind)
    return SharedStore(kind, url, unique_prefix(), tmp)


SHARED = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=SHARED)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStore]:
    store = _make(request.param, tmp_path)
    yield store
    store.cleanup()


@pytest.fixture
def make_shared(tmp_path: Path) -> Iterator[Callable[[str], SharedStore]]:
    made: list[SharedStore] = []

    def make(kind: str) -> SharedStore:
        store = _make(kind, tmp_path)
        made.append(store)
        return store

    yield make
    for store in made:
        store.cleanup()


class Records(logging.Handler):
    """Collects the ``scheduler`` logger's records (every thread; caplog is per test too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG, contains: str = "") -> list[str]:
        return [
            r.getMessage()
            for r in self.records
            if r.levelno >= level and contains in r.getMessage()
        ]


H = TypeVar("H", bound=logging.Handler)


def attached(handler: H) -> Iterator[H]:
    """Attach ``handler`` to the ``scheduler`` logger at DEBUG for a fixture's lifetime."""
    logger = logging.getLogger("scheduler")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.fixture
def sched_log() -> Iterator[Records]:
    yield from attached(Records())
