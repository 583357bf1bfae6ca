"""System checks for the ``SCHEDULER`` setting (``manage.py check``, and before most commands).

* ``scheduler.E001``: the setting is invalid (unknown key, bad value); the message names the
  key and, for a misspelt one, the nearest valid key.
* ``scheduler.W001``: ``autostart`` with the in-memory store: every web worker process would
  run every job.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from ...exceptions import ConfigurationError
from .conf import get_settings

__all__ = ["check_settings"]


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        values = get_settings()
    except ConfigurationError as exc:
        return [
            Error(
                str(exc),
                hint="See 'Django' in the README of threadcron (the scheduler package): it lists "
                "every key of the SCHEDULER setting.",
                obj="settings.SCHEDULER",
                id="scheduler.E001",
            )
        ]
    store = values.get("store")
    if values.get("autostart") and (store is None or store == "memory"):
        return [
            Warning(
                "SCHEDULER['autostart'] is on with the in-memory store: each web server "
                "worker process runs its own scheduler, so every job runs once per worker.",
                hint="Use a shared store (e.g. 'store': 'sqlite:///scheduler.db') or run "
                "'manage.py runscheduler' as its own process with autostart off.",
                obj="settings.SCHEDULER",
                id="scheduler.W001",
            )
        ]
    return []
