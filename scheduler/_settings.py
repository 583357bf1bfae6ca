"""The Scheduler's options, checked when they are given.

:class:`Settings` is a frozen dataclass checked in ``__post_init__``: a bad value fails at
construction with a :class:`~scheduler.exceptions.ConfigurationError` naming it, and an
unknown option names the nearest valid one. The facade builds one in ``Scheduler.__init__``
and hands it to the wiring (:mod:`scheduler._pieces`).

Threads and state: immutable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

from ._tz import zone
from .exceptions import ConfigurationError, unknown_name_message

if TYPE_CHECKING:
    from .job import Job

__all__ = ["Settings", "check_names"]

RunContextFactory = Callable[["Job"], contextlib.AbstractContextManager[Any]]


def check_names(unknown: Iterable[str], valid: Iterable[str]) -> None:
    """:raises ConfigurationError: an option that does not exist, naming the nearest one"""
    for name in unknown:
        raise ConfigurationError(unknown_name_message("Scheduler option", name, list(valid)))


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _count(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What ``Scheduler(...)`` was given, checked (see :class:`~scheduler.Scheduler`)."""

    timezone: tzinfo
    max_workers: int = 10
    shutdown_timeout: float = 30.0
    tick: float = 1.0
    lease_seconds: float = 30.0
    run_context: RunContextFactory | None = None
    max_processes: int = 1
    max_runs_per_process: int | None = None

    def __post_init__(self) -> None:
        _count("max_workers", self.max_workers)
        _count("max_processes", self.max_processes)
        _count("max_runs_per_process", self.max_runs_per_process, optional=True)
        for name in ("shutdown_timeout", "tick", "lease_seconds"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        if self.run_context is not None and not callable(self.run_context):
            raise ConfigurationError(f"run_context must be callable, got {self.run_context!r}")

    @classmethod
    def build(
        cls, *, timezone: str | tzinfo, max_processes: int | None, **options: Any
    ) -> Settings:
        """From ``Scheduler``'s keyword arguments: the zone resolved, ``max_processes``
        defaulting to the CPU count."""
        if max_processes is None:
            max_processes = os.cpu_count() or 1
        return cls(timezone=zone(timezone), max_processes=max_processes, **options)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
