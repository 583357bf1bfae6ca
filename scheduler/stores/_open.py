"""Build a store from its URL: the one place that maps a scheme to its backend module.

Each backend is imported only when its scheme is asked for, so ``import scheduler`` does not
load psycopg or redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import InvalidStoreURL

if TYPE_CHECKING:
    from . import Store

__all__ = ["from_url"]


def from_url(url: str | None, **options: Any) -> Store:
    """Build a store from a URL: ``memory``, ``sqlite:///path.db``, ``postgresql://...``,
    ``redis://...``. Extra keyword options go to the backend's constructor.

    :raises InvalidStoreURL: an unknown scheme, naming the ones that exist
    """
    if url is None or url in ("memory", "memory://", ":memory:"):
        from .memory import MemoryStore

        return MemoryStore(**options)
    from ._url import mask_url

    if not isinstance(url, str):
        raise InvalidStoreURL(
            f"store must be a URL string or a Store instance, got {type(url).__name__}"
        )
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(url, **options)
    if scheme in ("postgresql", "postgres"):
        from .postgresql import PostgreSQLStore

        return PostgreSQLStore(url, **options)
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisStore

        return RedisStore(url, **options)
    shown = mask_url(url)
    raise InvalidStoreURL(
        f"unknown store URL scheme {mask_url(scheme) or shown!r} in {shown!r}; use 'memory', "
        f"'sqlite:///path/to/file.db', 'postgresql://user@host/db' or 'redis://host:6379/0'"
    )
