"""``"store": "django"``: keep the scheduler's tables in the project's own database.

The store is the library's SQLite or PostgreSQL store, pointed at the database that
``settings.DATABASES[alias]`` describes (``"django"`` means the ``default`` alias,
``"django:reports"`` another one). It opens its own connections with those settings rather
than borrowing Django's: claims need their own short transactions and row locks, which must
not mix with a request's transaction or ``ATOMIC_REQUESTS``. The tables are
``scheduler_jobs`` and ``scheduler_runs``; the admin shows the run history read-only
(:mod:`scheduler.contrib.django.admin`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ...exceptions import ConfigurationError

__all__ = ["database_url", "is_django_store", "resolve_store"]

_SQLITE = "django.db.backends.sqlite3"
_POSTGRES = ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2")


def is_django_store(value: object) -> bool:
    return isinstance(value, str) and (value == "django" or value.startswith("django:"))


def database_url(alias: str = "default", databases: Mapping[str, Any] | None = None) -> str:
    """The store URL for ``settings.DATABASES[alias]``.

    :param databases: instead of ``settings.DATABASES`` (tests)

    :raises ConfigurationError: unknown alias, an in-memory SQLite database (other processes
        could not see it), or an engine other than SQLite and PostgreSQL
    """
    if databases is None:
        from django.conf import settings

        databases = getattr(settings, "DATABASES", {}) or {}
    if alias not in databases:
        raise ConfigurationError(
            f"SCHEDULER['store'] names database {alias!r}, which is not in DATABASES "
            f"(aliases: {', '.join(sorted(databases)) or 'none'})"
        )
    db = databases[alias]
    engine = db.get("ENGINE", "")
    name = str(db.get("NAME") or "")
    if engine == _SQLITE:
        if not name or name == ":memory:" or "mode=memory" in name:
            raise ConfigurationError(
                f"SCHEDULER['store'] = 'django' needs a SQLite file, but DATABASES[{alias!r}] "
                f"is in memory; use a file or another store"
            )
        return f"sqlite:///{name}"
    if engine in _POSTGRES:
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(db.get("HOST") or "")
        port = str(db.get("PORT") or "")
        where, query = f"{host}:{port}" if port else host, ""
        if host.startswith("/"):  # a Unix socket directory goes in the query (libpq)
            params = [f"host={quote(host, safe='')}"] + ([f"port={port}"] if port else [])
            where, query = "", "?" + "&".join(params)
        return f"postgresql://{auth}{where}/{quote(name, safe='')}{query}"
    raise ConfigurationError(
        f"SCHEDULER['store'] = 'django' supports SQLite and PostgreSQL databases; "
        f"DATABASES[{alias!r}] uses {engine or 'no ENGINE'}"
    )


def resolve_store(value: Any) -> Any:
    """Turn ``"django"``/``"django:alias"`` into a store URL; anything else is returned as is."""
    if not is_django_store(value):
        return value
    alias = value.partition(":")[2] or "default"
    return database_url(alias)
