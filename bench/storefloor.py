#!/usr/bin/env python3
"""The disk's floor under the store rows: how many fires per second three durable writes
allow, with no scheduler code at all.

    python bench/storefloor.py [--seconds 2]

A fire is three writes, each durable on its own (claim, start, finish). This times one-row
``UPDATE`` statements, each its own transaction, in a scratch table: on PostgreSQL (each
commit waits for the WAL flush, ``fsync``) and on SQLite in WAL mode with
``synchronous=NORMAL`` (as the store opens it). Prints the commits per second and a third
of that: the most fires per second one process can settle, one write after another.
Uses ``BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _rate(write, seconds: float) -> float:
    for _ in range(50):
        write()
    n, t0 = 0, time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        write()
        n += 1
    return n / (time.perf_counter() - t0)


def postgresql(seconds: float) -> float:
    import psycopg

    table = f"floor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v bigint)")
        try:
            conn.execute(f"INSERT INTO {table} VALUES (1, 0)")
            sql = f"UPDATE {table} SET v = v + 1 WHERE id = %s"
            return _rate(lambda: conn.execute(sql, (1,)), seconds)
        finally:
            conn.execute(f"DROP TABLE {table}")


def sqlite(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
        conn.execute("INSERT INTO t VALUES (1, 0)")
        try:
            return _rate(lambda: conn.execute("UPDATE t SET v = v + 1 WHERE id = ?", (1,)), seconds)
        finally:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    for name, measure in (("sqlite", sqlite), ("postgresql", postgresql)):
        try:
            rate = measure(args.seconds)
        except Exception as exc:  # a server that is not there: say so, measure the rest
            print(f"{name}: not measured ({type(exc).__name__}: {exc})")
            continue
        print(f"{name}: {rate:,.0f} one-row commits/s -> at most {rate / 3:,.0f} fires/s")


if __name__ == "__main__":
    main()
