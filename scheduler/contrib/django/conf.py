"""The ``SCHEDULER`` setting, read when needed (never at import, so ``override_settings`` works).

::

    SCHEDULER = {
        "timezone": "Europe/Bratislava",   # default: settings.TIME_ZONE
        "store": "sqlite:///var/scheduler.db",  # default: in memory (one process);
                                           # "django": the project's own database
        "max_workers": 10,
        "max_processes": 2,                # executor="process" workers; default: CPU count
        "shutdown_timeout": 30.0,
        "tick": 1.0,
        "autostart": False,                # start in the web process (see the docs)
        "job_defaults": {"misfire_grace_time": 300},
        "jobs": ["mysite.jobs"],           # job modules outside installed apps (imported
                                           # after each app's jobs.py)
        "allowed_modules": ["myapp.jobs"],  # jobs added at run time may call these
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...exceptions import ConfigurationError
from .._common import scheduler_kwargs, validate_settings
from .store import is_django_store, resolve_store

__all__ = ["get_settings", "scheduler_options"]

DEFAULTS: dict[str, Any] = {"autostart": False, "job_defaults": {}, "jobs": []}


def _module_names(name: str, value: Any) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
        isinstance(item, str) and item.strip() for item in value
    ):
        raise ConfigurationError(
            f"{name} must be a list of module names (e.g. ['mysite.jobs']), got {value!r}"
        )


#: keys only the Django integration has
_DJANGO_SETTINGS = {"jobs": _module_names}


def _spell(name: str) -> str:
    return name


def get_settings() -> dict[str, Any]:
    """``settings.SCHEDULER``, validated, with defaults filled in.

    :raises ConfigurationError: not a dict, an unknown key (naming the nearest valid one) or a
        bad value; the message starts with ``SCHEDULER``
    """
    from django.conf import settings

    raw = getattr(settings, "SCHEDULER", None) or {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"settings.SCHEDULER must be a dict, got {type(raw).__name__}"
        )
    try:
        values = validate_settings(raw, spell=_spell, kind="key", extra=_DJANGO_SETTINGS)
    except ConfigurationError as exc:
        raise ConfigurationError(f"settings.SCHEDULER: {exc}") from exc
    out = {**DEFAULTS, **values}
    if out.get("timezone") is None:
        out["timezone"] = getattr(settings, "TIME_ZONE", None) or "UTC"
    if is_django_store(out.get("store")):
        try:
            out["store"] = resolve_store(out["store"])
        except ConfigurationError as exc:
            raise ConfigurationError(f"settings.{exc}") from exc
    return out


def scheduler_options(values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments for :class:`~scheduler.Scheduler` from the settings."""
    return scheduler_kwargs(get_settings() if values is None else values)
