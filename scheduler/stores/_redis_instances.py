"""Live instances in the Redis store.

Keys under the store's prefix: ``instance:<host:pid:instance>`` (a hash: host, pid, version,
started, heartbeat, lease, running; it expires by itself :data:`FORGET_AFTER` after its
lease) and ``instances`` (a sorted set of instance names by lease expiry, which
:meth:`RedisInstances.list_instances` reads from now on). Times are Redis's clock
(``TIME``), in microseconds since the epoch, like the rest of the store.

A beat is one pipeline after reading the clock: ``started`` is set only when missing
(``HSETNX``), so it stays the first beat's. The data is advisory: the pipeline is not a
``MULTI`` (a beat cut half-way is repaired by the next one, and an ACL limited to
``+@read +@write +@scripting`` allows it), and it is not guarded by the store's epoch check
(a Redis that lost its data shows the instances again at their next beat).

Threads and state: mixed into :class:`~scheduler.stores.redis.RedisStore`; nothing of its
own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from .._time import to_us
from ._instances import FORGET_AFTER, InstanceInfo, running_from_json, running_json
from ._redis_scripts import from_us

if TYPE_CHECKING:
    from . import Owner
    from ._redis_conn import Client, RedisConnection

__all__ = ["RedisInstances"]

_FORGET_US = int(FORGET_AFTER.total_seconds() * 1_000_000)


class RedisInstances:
    """``beat_instance``, ``remove_instance`` and ``list_instances`` on Redis."""

    _conn: RedisConnection

    if TYPE_CHECKING:

        @property
        def _redis(self) -> Client: ...

    def beat_instance(
        self,
        owner: Owner,
        *,
        version: str,
        started_at: datetime,
        running: Sequence[str],
        lease_seconds: float,
    ) -> None:
        label = str(owner)
        key = self._conn.key("instance:", label)
        now = self._conn.time_us()
        expires = now + int(lease_seconds * 1_000_000)
        fields = {"host": owner.host, "pid": str(owner.pid), "version": version,
                  "heartbeat": str(now), "lease": str(expires),
                  "running": running_json(running)}  # fmt: skip
        with self._conn.errors("beat_instance"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.hsetnx(key, "started", str(to_us(started_at)))
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, (expires - now + _FORGET_US) // 1000)
            pipe.zadd(self._conn.key("instances"), {label: expires})
            pipe.zremrangebyscore(self._conn.key("instances"), "-inf", f"({now - _FORGET_US}")
            pipe.execute()

    def remove_instance(self, instance: str) -> None:
        with self._conn.errors("remove_instance"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(self._conn.key("instance:", instance))
            pipe.zrem(self._conn.key("instances"), instance)
            pipe.execute()

    def list_instances(self) -> list[InstanceInfo]:
        now = self._conn.time_us()
        with self._conn.errors("list_instances"):
            names = self._redis.zrangebyscore(self._conn.key("instances"), f"({now}", "+inf")
            pipe = self._redis.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(self._conn.key("instance:", name))
            hashes = pipe.execute() if names else []
        live = [
            InstanceInfo(
                instance=name,
                host=h["host"],
                pid=int(h["pid"]),
                version=h.get("version", ""),
                started_at=from_us(h.get("started") or h["heartbeat"]),
                last_heartbeat=from_us(h["heartbeat"]),
                lease_expires=from_us(h["lease"]),
                running=running_from_json(h.get("running")),
            )
            for name, h in zip(names, hashes, strict=True)
            if h and "heartbeat" in h and "lease" in h
        ]
        return sorted(live, key=lambda i: (i.started_at, i.instance))
