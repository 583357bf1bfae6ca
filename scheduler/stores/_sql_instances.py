"""Live instances in the SQL stores: the ``{prefix}instances`` table (schema step 4).

Mixed into :class:`~scheduler.stores._sql.SQLStore`, which supplies ``_tx`` (one
transaction), ``_db_now`` (the server's clock on PostgreSQL) and the :class:`Dialect`. A beat
is one short write transaction: an upsert of this instance's row, then a delete of the rows
expired for :data:`~scheduler.stores._instances.FORGET_AFTER`.

Threads and state: the rendered SQL texts, built on first use (a rebinding, so racing
threads at worst both build them); nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._instances import FORGET_AFTER, InstanceInfo, running_from_json, running_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from . import Owner
    from ._sql_schema import Cursor, Dialect

__all__ = ["SQLInstances"]

_COLS = "instance, host, pid, version, started_at, last_heartbeat, lease_expires, running"
_TEXTS = {
    "beat": f"INSERT INTO {{p}}instances ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (instance) DO UPDATE SET version = excluded.version, "
    "last_heartbeat = excluded.last_heartbeat, lease_expires = excluded.lease_expires, "
    "running = excluded.running",
    "forget": "DELETE FROM {p}instances WHERE lease_expires < ?",
    "remove": "DELETE FROM {p}instances WHERE instance = ?",
    "live": f"SELECT {_COLS} FROM {{p}}instances WHERE lease_expires > ? "
    "ORDER BY started_at, instance",
}


class SQLInstances:
    """``beat_instance``, ``remove_instance`` and ``list_instances`` in SQL."""

    prefix: str
    dialect: Dialect
    _instance_sql: dict[str, str] | None = None

    if TYPE_CHECKING:

        def _tx(self, fn: Callable[[Cursor], Any], *, write: bool = True) -> Any: ...
        def _db_now(self, cur: Cursor) -> datetime: ...

    def _isql(self, name: str) -> str:
        texts = self._instance_sql
        if texts is None:
            param = self.dialect.param
            texts = {k: v.format(p=self.prefix).replace("?", param) for k, v in _TEXTS.items()}
            self._instance_sql = texts
        return texts[name]

    def beat_instance(
        self,
        owner: Owner,
        *,
        version: str,
        started_at: datetime,
        running: Sequence[str],
        lease_seconds: float,
    ) -> None:
        ts = self.dialect.ts

        def tx(cur: Cursor) -> None:
            now = self._db_now(cur)
            expires = now + timedelta(seconds=lease_seconds)
            values = (str(owner), owner.host, owner.pid, version, ts(started_at), ts(now),
                      ts(expires), running_json(running))  # fmt: skip
            cur.execute(self._isql("beat"), values)
            cur.execute(self._isql("forget"), (ts(now - FORGET_AFTER),))

        self._tx(tx)

    def remove_instance(self, instance: str) -> None:
        self._tx(lambda cur: cur.execute(self._isql("remove"), (instance,)))

    def list_instances(self) -> list[InstanceInfo]:
        dt = self.dialect.dt

        def tx(cur: Cursor) -> list[Any]:
            rows: list[Any] = cur.execute(
                self._isql("live"), (self.dialect.ts(self._db_now(cur)),)
            ).fetchall()
            return rows

        return [
            InstanceInfo(
                instance=row[0],
                host=row[1],
                pid=int(row[2]),
                version=row[3],
                started_at=dt(row[4]),  # type: ignore[arg-type]
                last_heartbeat=dt(row[5]),  # type: ignore[arg-type]
                lease_expires=dt(row[6]),  # type: ignore[arg-type]
                running=running_from_json(row[7]),
            )
            for row in self._tx(tx, write=False)
        ]
