"""The Redis store's connection: URL, pool, the typed client, error mapping, the Lua scripts,
and the epoch that detects a lost data set. The protocol is in
:mod:`~scheduler.stores.redis`; the scripts' text in :mod:`~scheduler.stores._redis_scripts`.

The client is typed here, once: redis-py's annotations allow ``bytes`` everywhere, but the
pool decodes every reply (``decode_responses=True``), so :class:`Client` states what the
store actually gets back and :attr:`RedisConnection.client` is cast to it.

The epoch: at first use the store writes an ``epoch`` key with no TTL, and every script
checks it. When it vanishes or changes (a restart without persistence, a failover to an
empty replica, a flush), the connection adopts the new one, counts a data loss
(``data_losses``, which makes the scheduler register its jobs again) and logs an error once.

Threads and state
-----------------
* redis-py's pool hands each thread its own connection; ``_client`` and ``_pool`` are
  rebound by ``open``, ``close`` and ``after_fork`` (the scheduler's lifecycle), read by any
  thread.
* ``epoch``, ``data_losses`` and ``data_lost`` are guarded by ``_lock``, a leaf (no Redis
  call is made while it is held).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, cast

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import BusyLoadingError, NoScriptError, OutOfMemoryError, ReadOnlyError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError('the Redis store needs redis-py: pip install "threadcron[redis]"') from exc

from ..exceptions import InvalidStoreURL, StoreDataError, StoreError, StoreUnavailable
from . import _redis_scripts as scripts
from ._url import mask_in, mask_url

__all__ = ["Client", "Pipeline", "RedisConnection", "check_url"]

log = logging.getLogger("scheduler.stores.redis")

#: a full Redis (maxmemory reached) refuses writes until memory is freed: an outage too
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ReadOnlyError, OutOfMemoryError)
#: a script's epoch may change this many times in one call before the store gives up
EPOCH_CHANGES = 2
_SCRIPTS = {
    name: (source, hashlib.sha1(source.encode()).hexdigest())
    for name in scripts.SCRIPTS
    for source in [getattr(scripts, name)]
}


class Pipeline(Protocol):
    """The commands the store queues on a pipeline (replies decoded to ``str``)."""

    def get(self, name: str) -> Any: ...

    def zrange(self, name: str, start: int, end: int) -> Any: ...

    def hgetall(self, name: str) -> Any: ...

    def hsetnx(self, name: str, key: str, value: str) -> Any: ...

    def hset(self, name: str, *, mapping: dict[str, str]) -> Any: ...

    def pexpire(self, name: str, time: int) -> Any: ...

    def zadd(self, name: str, mapping: dict[str, int]) -> Any: ...

    def zrem(self, name: str, *values: str) -> Any: ...

    def zremrangebyscore(self, name: str, min: float | str, max: float | str) -> Any: ...

    def delete(self, *names: str) -> Any: ...

    def execute(self) -> list[Any]: ...


class Client(Protocol):
    """The part of ``redis.Redis`` the store uses, as a decoding pool answers it."""

    def ping(self) -> bool: ...

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str, *, nx: bool = False) -> bool | None: ...

    def hgetall(self, name: str) -> dict[str, str]: ...

    def time(self) -> tuple[int, int]: ...

    def config_get(self, pattern: str) -> dict[str, str]: ...

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> list[Any]: ...

    def script_load(self, script: str) -> str: ...

    def pipeline(self, transaction: bool = True) -> Pipeline: ...

    def zrevrange(
        self, name: str, start: int, end: int, *, withscores: bool = False
    ) -> list[tuple[str, float]]: ...

    def zrangebyscore(self, name: str, min: float | str, max: float | str) -> list[str]: ...

    def close(self) -> None: ...


def check_url(url: object) -> str:
    """Refuse what is not a Redis URL, and a database that is not a number (redis-py would
    quietly use db 0).

    :raises InvalidStoreURL: another scheme, ``redis://host/notadb``, ``?db=x``, or a URL
        that cannot be split
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    if not isinstance(url, str) or not url.lower().startswith(("redis://", "rediss://", "unix://")):
        shown = mask_url(url) if isinstance(url, str) else type(url).__name__
        raise InvalidStoreURL(
            f"invalid Redis URL {shown!r}: use redis://host:6379/0, rediss://... or "
            f"unix:///path"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidStoreURL(f"invalid Redis URL {mask_url(url)!r}: {exc}") from None
    dbs = parse_qs(parts.query).get("db", [])
    if parts.scheme.lower() != "unix":
        path = unquote(parts.path).strip("/")
        if path:
            dbs.insert(0, path)
    for db in dbs:
        if not db.isascii() or not db.isdigit():
            raise InvalidStoreURL(
                f"invalid Redis URL {mask_url(url)!r}: database {db!r} is not a number "
                f"(use redis://host:6379/0 or ?db=0)"
            )
    return url


class RedisConnection:
    """One store's way to Redis.

    :param url: checked by :func:`check_url`
    :param prefix: the start of every key (the epoch key included)
    :param socket_timeout: seconds to wait for a connection or a reply
    """

    def __init__(self, url: str, prefix: str, socket_timeout: float) -> None:
        self.url = check_url(url)
        self.prefix = prefix
        self.socket_timeout = socket_timeout
        self._pool: redis.ConnectionPool | None = self._make_pool()
        kw = self._pool.connection_kwargs
        self.address = kw["path"] if "path" in kw else f"{kw.get('host')}:{kw.get('port')}"
        self._client: Client | None = None
        self._lock = threading.Lock()
        self.epoch: str | None = None  # Invariant: written under _lock
        #: data sets lost (the epoch key vanished or changed) seen through this connection
        self.data_losses = 0  # Invariant: written under _lock
        self.data_lost = False  # Invariant: written under _lock

    def _make_pool(self) -> redis.ConnectionPool:
        try:
            return redis.ConnectionPool.from_url(
                self.url,
                decode_responses=True,
                client_name=f"scheduler:{self.prefix}",
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                # no silent retries: a script whose reply was lost may have run (claim retries
                # itself safely by run id; see eval)
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            # from None: the driver's message may quote the URL, password and all
            raise InvalidStoreURL(
                f"invalid Redis URL {mask_url(self.url)!r}: {mask_in(exc, self.url)}"
            ) from None

    @property
    def pool(self) -> redis.ConnectionPool:
        if self._pool is None:
            self._pool = self._make_pool()
        return self._pool

    def key(self, *parts: str) -> str:
        return self.prefix + "".join(parts)

    @property
    def client(self) -> Client:
        """The client; a closed (or never opened) connection reconnects on use, as the SQL
        stores do, so that the run history stays readable after the scheduler shut down."""
        client = self._client
        if client is None:
            client = self._client = cast(Client, redis.Redis(connection_pool=self.pool))
        return client

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Map redis-py's errors: unreachable is an outage, a refusal is the data's fault."""
        try:
            yield
        except UNAVAILABLE as exc:
            raise StoreUnavailable(
                f"Redis at {self.address} is unavailable ({what}): {exc}"
            ) from exc
        except redis.ResponseError as exc:  # WRONGTYPE and the like: the data, not an outage
            raise StoreDataError(f"Redis at {self.address} refused {what}: {exc}") from exc

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, check the eviction policy and the epoch key.

        :raises StoreUnavailable: Redis does not answer at the URL's host and port
        """
        client = self.client
        with self.errors("open"):
            client.ping()
            self._check_policy(client)
            client.set(self.key("epoch"), uuid.uuid4().hex, nx=True)
            current = client.get(self.key("epoch"))
        if self.epoch is None:
            with self._lock:
                self.epoch = current
        elif current != self.epoch:
            self.epoch_changed(current)

    def _check_policy(self, client: Client) -> None:
        try:
            policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        except redis.ResponseError as exc:  # CONFIG renamed or disabled (managed services)
            log.warning(
                "could not check Redis's maxmemory-policy at %s (%s); set it to noeviction: an "
                "evicted key can let a fire run twice",
                self.address,
                exc,
                extra={"address": self.address},
            )
            return
        if policy != "noeviction":
            log.warning(
                "Redis at %s has maxmemory-policy %s; set it to noeviction: an evicted key can "
                "let a fire run twice or lose its run record",
                self.address,
                policy,
                extra={"address": self.address, "policy": policy},
            )

    def close(self) -> None:
        client, pool, self._client, self._pool = self._client, self._pool, None, None
        if client is not None:
            client.close()
        if pool is not None:
            pool.disconnect()

    def after_fork(self) -> None:
        """Forget the parent's pool without closing it, so the child opens its own.

        Never call ``disconnect()`` on it here: that would shut the sockets down for the parent
        too. Dropping the objects is safe: redis-py only closes (never shuts down) a socket whose
        connection was made by another pid, and closing the child's copy leaves the parent's
        session alone.
        """
        self._lock = threading.Lock()  # a parent thread may have held it at the fork
        was_open = self._client is not None
        self._client = None
        self._pool = self._make_pool()
        if was_open:
            self._client = cast(Client, redis.Redis(connection_pool=self._pool))

    def time_us(self) -> int:
        """Redis's clock (``TIME``) in microseconds since the epoch."""
        with self.errors("TIME"):
            seconds, micros = self.client.time()
        return int(seconds) * 1_000_000 + int(micros)

    # -- scripts ---------------------------------------------------------------------------
    def eval(
        self, name: str, keys: list[str], args: list[Any], *, again: list[Any] | None = None
    ) -> list[Any]:
        """Run one script. ``again``: the arguments to re-send once when the connection broke
        (the reply may be lost after the script ran), for scripts that are safe to repeat so."""
        changes = 0
        while True:
            try:
                reply = self.run_script(name, keys, args)
            except redis.ResponseError as exc:
                if isinstance(exc, UNAVAILABLE):
                    raise StoreUnavailable(
                        f"Redis at {self.address} is unavailable ({name.lower()}): {exc}"
                    ) from exc
                # a script error on data it cannot read (a key of another type, a field
                # written by hand): the data, not an outage
                raise StoreDataError(
                    f"Redis at {self.address} refused {name.lower()}: {exc}"
                ) from exc
            except UNAVAILABLE as exc:
                if (
                    again is None
                    or not isinstance(exc, redis.ConnectionError)
                    or isinstance(exc, BusyLoadingError)
                ):
                    raise StoreUnavailable(
                        f"Redis at {self.address} is unavailable ({name.lower()}): {exc}"
                    ) from exc
                log.info(
                    "connection to Redis at %s broke during %s; sending it again",
                    self.address,
                    name.lower(),
                    extra={"address": self.address, "error": str(exc)},
                )
                args, again = again, None
                continue
            if reply[0] != "epoch":
                return reply
            changes += 1
            if changes > EPOCH_CHANGES:
                raise StoreError(f"the epoch key of Redis at {self.address} keeps changing")
            self.epoch_changed(reply[1])

    def run_script(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:
        """One script by its SHA (loaded on first use or after a restart); the epoch key and
        the epoch this connection last saw go first."""
        source, sha = _SCRIPTS[name]
        client = self.client
        keys = [self.key("epoch"), *keys]
        args = [self.epoch or "", self.prefix, *args]
        try:
            return client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted server, or the first call
            client.script_load(source)
            return client.evalsha(sha, len(keys), *keys, *args)

    def epoch_changed(self, current: str | None) -> None:
        """Redis lost (or replaced) its data set: adopt the new epoch, say so once."""
        client = self.client
        with self.errors("epoch"):
            if current is None:
                client.set(self.key("epoch"), uuid.uuid4().hex, nx=True)
                current = client.get(self.key("epoch"))
        with self._lock:
            if current == self.epoch:
                return
            had, self.epoch = self.epoch, current
            if had is not None:
                self.data_losses += 1
        if had is not None:
            self.lost("its epoch key vanished or changed")

    def lost(self, why: str) -> None:
        with self._lock:
            first, self.data_lost = not self.data_lost, True
        if first:
            log.error(
                "Redis at %s lost data (%s: a restart without persistence, a failover or "
                "eviction); runs held here will be recorded as uncertain",
                self.address,
                why,
                extra={"address": self.address, "prefix": self.prefix},
            )
