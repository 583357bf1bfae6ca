"""Pieces the Flask and Django integrations share: settings validation and server checks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..exceptions import ConfigurationError, unknown_name_message

__all__ = ["SETTINGS", "check_uwsgi_threads", "scheduler_kwargs", "validate_settings"]

logger = logging.getLogger("scheduler.contrib")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive int, got {value!r}")


def _non_negative_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(f"{name} must be a number >= 0, got {value!r}")


def _positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(f"{name} must be a number > 0, got {value!r}")


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")


def _timezone(name: str, value: Any) -> None:
    from .._tz import zone

    try:
        zone(value)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{name}: {exc}") from exc


def _store(name: str, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    from ..stores import Store

    if not isinstance(value, Store):
        raise ConfigurationError(
            f"{name} must be a URL ('memory', 'sqlite:///jobs.db', 'postgresql://...', "
            f"'redis://...') or a Store, got {type(value).__name__}"
        )


def _any(name: str, value: Any) -> None:
    return None


def _modules(name: str, value: Any) -> None:
    from .._refs import Allowlist

    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigurationError(
            f"{name} must be a list of module names such as ['myapp.jobs'], got {value!r}"
        )
    try:
        Allowlist(value)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{name}: {exc}") from None


#: setting name (lower case, as Scheduler() takes it) -> checker. ``autostart`` is the
#: integration's own; the others are passed to :class:`~scheduler.Scheduler`.
SETTINGS: dict[str, Callable[[str, Any], None]] = {
    "timezone": _timezone,
    "store": _store,
    "max_workers": _positive_int,
    "max_processes": _positive_int,
    "shutdown_timeout": _non_negative_number,
    "tick": _positive_number,
    "autostart": _bool,
    "job_defaults": _any,
    "allowed_modules": _modules,
}


def validate_settings(
    values: Mapping[str, Any],
    *,
    spell: Callable[[str], str],
    kind: str = "setting",
    extra: Mapping[str, Callable[[str, Any], None]] | None = None,
) -> dict[str, Any]:
    """Check a settings mapping; return it with lower-case keys.

    :param values: ``{name: value}`` with names as the user spells them
    :param spell: turns a lower-case name into the user's spelling (``SCHEDULER_`` + upper)
        for messages
    :param extra: settings of one integration only (name -> checker)
    :raises ConfigurationError: an unknown name (naming the nearest valid one) or a bad value
    """
    out: dict[str, Any] = {}
    checkers = {**SETTINGS, **(extra or {})}
    valid = {spell(name): name for name in checkers}
    for key, value in values.items():
        name = valid.get(key)
        if name is None:
            raise ConfigurationError(unknown_name_message(kind, key, valid))
        checkers[name](key, value)
        out[name] = value
    defaults = out.get("job_defaults")
    if defaults is not None and not isinstance(defaults, Mapping):
        raise ConfigurationError(f"{spell('job_defaults')} must be a dict of add_job() options")
    return out


def scheduler_kwargs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of validated settings that :class:`~scheduler.Scheduler` takes."""
    own = ("autostart", "job_defaults", "jobs", "health_url")
    return {k: v for k, v in settings.items() if k not in own and v is not None}


def check_uwsgi_threads() -> None:
    """Refuse to start under uWSGI without ``enable-threads``.

    Without it uWSGI never lets Python threads run outside a request (the GIL is not
    released), so a scheduler would silently never fire.

    :raises ConfigurationError: running under uWSGI with threads disabled
    """
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is None:
        try:
            import uwsgi  # type: ignore[no-redef]
        except ImportError:
            return
    opt = getattr(uwsgi, "opt", {}) or {}
    if _truthy(opt.get("enable-threads")) or _truthy(opt.get("threads")):
        return
    raise ConfigurationError(
        "uWSGI is running without threads, so the scheduler's threads would never run: "
        "start uWSGI with --enable-threads (or 'enable-threads = true' in uwsgi.ini), or run "
        "the scheduler in its own process (scheduler run / manage.py runscheduler / "
        "flask scheduler run)"
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)
