"""The Redis store: several hosts share one Redis; every mutating step is one Lua script.

Usage::

    from scheduler.stores.redis import RedisStore

    store = RedisStore("redis://redis.internal:6379/0", prefix="billing:")

Redis runs a script without interleaving other commands, so each step (claim, renew, finish,
reap, ...) is atomic across every host, exactly as :class:`~scheduler.stores.memory.MemoryStore`
is under its lock. Leases, :meth:`RedisStore.now` and run timestamps use the Redis server's
clock (``TIME``, ``server_clock``), so hosts with skewed clocks still agree; the scheduler
measures this host's skew against it and warns once (:mod:`scheduler._storetime`).

Keys, all under ``prefix``: ``epoch`` (a random id, see below); ``jobs`` (sorted set of job ids
by first registration); ``job:<id>`` (hash); ``tokens`` (hash of fencing counters per job);
``fire:<job>@<µs>`` (the unique run key of a fire, ``SET NX``); ``run:<run id>`` (hash);
``runs:<job>`` and ``allruns`` (sorted sets of run ids by scheduled time); ``leases:<job>`` and
``leases`` (sorted sets of live run ids by lease expiry); ``instance:<owner>`` and
``instances`` (live scheduler instances, :mod:`._redis_instances`). Redis Cluster is not
supported: the scripts touch keys they compute.

What it guarantees, and what it does not:

* **Durability** is Redis's. ``durable`` is True in the sense that the scheduler's restart loses
  nothing; Redis without persistence (no RDB, no AOF) loses everything on *its own* restart.
  Use ``appendonly yes`` and ``maxmemory-policy noeviction`` (a warning is logged otherwise:
  evicting a job or run key would let a fire run twice).
* **Failover.** Replication is asynchronous: a claim acknowledged by a primary that dies before
  replicating it is unknown to the promoted replica, so the same fire can be claimed, and run,
  a second time. Exactly once holds while Redis keeps its writes.
* **Data loss is detected**, not prevented: at first use the store writes an ``epoch`` key with
  no TTL; every script checks it. When it vanishes (a restart without persistence, a failover
  to an empty replica, a flush) the store logs an error once and sets :attr:`data_lost`; a run
  this instance holds whose key vanished is then recorded as ``uncertain`` by
  :meth:`~RedisStore.finish` (or by :meth:`~RedisStore.renew` / :meth:`~RedisStore.mark_started`,
  which return it as not held).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from .._time import EPOCH, to_us
from . import (
    Claim,
    ClaimStatus,
    FireKey,
    JobDefinition,
    Owner,
    Registration,
    RunOutcome,
    RunRecord,
    Store,
    StoredJob,
)
from ._redis_conn import Client, RedisConnection
from ._redis_instances import RedisInstances
from ._redis_scripts import from_us, job_from_hash, pairs, record_from_hash
from ._url import mask_url

__all__ = ["RedisStore"]

log = logging.getLogger("scheduler.stores.redis")

#: lost runs handed back by one REAP script call
REAP_BATCH = 100


class RedisStore(RedisInstances, Store):
    """Jobs and run history in Redis, shared by every process that uses the same ``prefix``.

    Thread-safe: redis-py's connection pool hands each thread its own connection.

    :param url: ``redis://[[user]:password@]host:port/db``, ``rediss://...`` or
        ``unix:///path/to/redis.sock?db=0``
    :param prefix: the start of every key this store writes; stores with the same prefix share
        jobs and history, so give each application its own
    :param socket_timeout: seconds to wait for a connection or a reply before the store is
        considered unavailable
    :param history_limit: runs kept per job (oldest finished ones pruned); None keeps all
    :param history_max_age: finished runs older than this are pruned; None keeps all
    :raises InvalidStoreURL: the URL cannot be parsed or has another scheme
    :raises ValueError: an empty prefix or one with whitespace
    """

    durable = True
    shared = True
    server_clock = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "scheduler:",
        socket_timeout: float = 5.0,
        history_limit: int | None = 1000,
        history_max_age: timedelta | None = None,
    ) -> None:
        super().__init__(history_limit=history_limit, history_max_age=history_max_age)
        if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"prefix must be a non-empty string without spaces, got {prefix!r}")
        self._conn = RedisConnection(url, prefix, socket_timeout)
        self.url = url
        self.prefix = prefix
        self.socket_timeout = socket_timeout
        self.address = self._conn.address
        self._k = self._conn.key
        self._errors = self._conn.errors
        self._eval = self._conn.eval
        self._lock = threading.Lock()
        # run id -> (owner, epoch at claim) of the runs claimed through this object: a held run
        # whose key vanished while the epoch stayed was pruned after a reap, not lost with Redis
        self._live: dict[str, tuple[str, str | None]] = {}  # Invariant: under _lock

    @property
    def data_losses(self) -> int:
        return self._conn.data_losses

    @property
    def data_lost(self) -> bool:
        """True once this store has seen Redis lose its data (the epoch key vanished or
        changed)."""
        return self._conn.data_lost

    @property
    def _redis(self) -> Client:
        return self._conn.client

    def __repr__(self) -> str:
        return f"RedisStore({mask_url(self.url)!r}, prefix={self.prefix!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, check the eviction policy and the epoch key.

        :raises StoreUnavailable: Redis does not answer at the URL's host and port
        """
        self._conn.open()
        self.now()

    def close(self) -> None:
        self._conn.close()

    def after_fork(self) -> None:
        """In a forked child: a new pool (the parent's stays the parent's), no runs held."""
        self._conn.after_fork()
        self._lock = threading.Lock()  # a parent thread may have held it at the fork
        self._live.clear()  # the parent's runs are the parent's

    def same_as(self) -> RedisStore:
        return RedisStore(
            self.url,
            prefix=self.prefix,
            socket_timeout=self.socket_timeout,
            history_limit=self.history_limit,
            history_max_age=self.history_max_age,
        )

    def drop_keys(self) -> None:
        """Delete every key under the prefix (tests). A prefix that starts another store's
        prefix (``app:`` and ``app:eu:``) would take that store's keys too."""
        pattern = "".join(f"\\{c}" if c in "*?[]\\^" else c for c in self.prefix) + "*"
        import redis

        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            batch = list(client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(batch), 500):
                client.unlink(*batch[i : i + 500])
        finally:
            client.close()

    def now(self) -> datetime:
        """Redis's clock (``TIME``), aware UTC."""
        return from_us(self._conn.time_us())

    # -- scripts ---------------------------------------------------------------------------
    def _history_args(self) -> list[str]:
        age = self.history_max_age
        return [
            "" if self.history_limit is None else str(self.history_limit),
            "" if age is None else str(age // timedelta(microseconds=1)),
        ]

    def _vanished(self, claim: Claim, attempt: int, reported: RunOutcome | None = None) -> None:
        """Record a run held here whose key vanished with Redis's data as UNCERTAIN (once;
        never over a re-claim of its fire)."""
        run_id = claim.run_id or ""
        with self._lock:
            owner, epoch = self._live.pop(run_id, ("", self._conn.epoch))
        if epoch == self._conn.epoch:  # claimed elsewhere, or reaped and pruned since: just fenced
            return
        error = "the store lost this run's claim (Redis restart, failover or eviction)"
        if reported is not None:
            error += f"; its owner reported {reported.value}"
        job_id = claim.fire.job_id
        sched = str(to_us(claim.fire.scheduled_time))
        reply = self._eval(
            "UNCERTAIN",
            [
                self._k("run:", run_id),
                self._k("fire:", job_id, "@", sched),
                self._k("job:", job_id),
            ],
            [*self._history_args(), run_id, job_id, sched, claim.token, attempt, owner, error],
        )
        facts = {"job_id": job_id, "run_id": run_id, "fire": claim.fire.key}
        if reply[0] == "refired":
            log.error(
                "fire %s was claimed again after Redis lost run %s: it may have run twice",
                claim.fire.key,
                run_id,
                extra=facts,
            )
        elif reply[0] == "recorded":
            log.error("run %s of %s recorded as uncertain", run_id, claim.fire.key, extra=facts)

    # -- jobs ------------------------------------------------------------------------------
    def register(self, definition: JobDefinition, *, owner: Owner) -> Registration:
        reply = self._eval(
            "REGISTER",
            [self._k("job:", definition.id), self._k("jobs")],
            [definition.id, definition.to_json(), definition.fingerprint, str(owner)],
        )
        anchor = from_us(reply[1])
        last_fire = from_us(reply[2])
        replaced = job_from_hash(pairs(reply[3])) if reply[0] == "new" and reply[3] else None
        return Registration(anchor=anchor, last_fire=last_fire, replaced=replaced)

    def unregister(self, job_id: str) -> None:
        self._eval("UNREGISTER", [self._k("job:", job_id), self._k("jobs")], [job_id])

    def get_job(self, job_id: str) -> StoredJob | None:
        with self._errors("get_job"):
            h = self._redis.hgetall(self._k("job:", job_id))
        return job_from_hash(h) if h else None

    def load_jobs(self, *, dynamic_only: bool = True) -> list[StoredJob]:
        with self._errors("load_jobs"):
            # the epoch with the ids, atomically: an empty set after a data loss must be
            # seen as the loss it is (data_losses moves), not as every job removed
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(self._k("epoch"))
            pipe.zrange(self._k("jobs"), 0, -1)
            epoch, ids = pipe.execute()
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self._k("job:", job_id))
            hashes = pipe.execute()
        if self._conn.epoch is not None and epoch != self._conn.epoch:
            self._conn.epoch_changed(epoch)
        jobs = [job_from_hash(h) for h in hashes if h]
        return [j for j in jobs if j.definition.dynamic or not dynamic_only]

    def mark_broken(self, job_id: str, reason: str) -> None:
        self._eval("MARK_BROKEN", [self._k("job:", job_id)], [reason])

    # -- fires -----------------------------------------------------------------------------
    def _claim(
        self,
        fire: FireKey,
        fp: str,
        owner: Owner,
        coalesced: int,
        covers_from: datetime | None,
        anchor: datetime | None,
        *tail: Any,
    ) -> list[Any]:
        job_id = fire.job_id
        sched = str(to_us(fire.scheduled_time))
        args = [*self._history_args(), job_id, sched, fp, str(owner), coalesced, uuid.uuid4().hex]
        args += tail
        args += [sched if covers_from is None else str(to_us(covers_from))]
        args += ["" if anchor is None else str(to_us(anchor))]
        keys = [
            self._k("job:", job_id),
            self._k("fire:", job_id, "@", sched),
            self._k("tokens"),
            self._k("leases:", job_id),
            self._k("leases"),
        ]
        # the run id is fresh, so re-sending the same arguments is safe: a claim that ran
        # before the connection broke is answered with its own result, not TAKEN
        reply = self._eval("CLAIM", keys, args, again=args)
        return [args[7], *reply]

    def claim(
        self,
        fire: FireKey,
        *,
        fingerprint: str,
        owner: Owner,
        max_instances: int,
        lease_seconds: float,
        coalesced: int = 0,
        covers_from: datetime | None = None,
        anchor: datetime | None = None,
    ) -> Claim:
        run_id, status, *rest = self._claim(
            fire,
            fingerprint,
            owner,
            coalesced,
            covers_from,
            anchor,
            "run",
            max_instances,
            lease_seconds,
            "",
        )
        if status == "skipped":
            return Claim(status=ClaimStatus.SKIPPED, fire=fire, run_id=run_id)
        if status == "claimed":
            with self._lock:
                self._live[run_id] = (str(owner), self._conn.epoch)
            return Claim(
                status=ClaimStatus.CLAIMED,
                fire=fire,
                run_id=run_id,
                token=int(rest[0]),
                lease_expires=from_us(rest[1]),
            )
        if status == "superseded":
            return Claim(status=ClaimStatus.SUPERSEDED, fire=fire)
        return Claim(status=ClaimStatus.TAKEN, fire=fire)

    def claim_missed(
        self,
        fire: FireKey,
        *,
        fingerprint: str,
        owner: Owner,
        reason: str,
        coalesced: int = 0,
        covers_from: datetime | None = None,
        anchor: datetime | None = None,
    ) -> bool:
        reply = self._claim(
            fire, fingerprint, owner, coalesced, covers_from, anchor, "missed", 0, 0, reason
        )
        return bool(reply[1] == "missed")

    def mark_started(self, claim: Claim, *, attempt: int) -> bool:
        args = [claim.token, attempt]
        reply = self._eval("MARK_STARTED", [self._k("run:", claim.run_id or "")], args, again=args)
        if reply[0] == "missing":
            self._vanished(claim, attempt)
        elif reply[0] == "fenced":
            with self._lock:
                self._live.pop(claim.run_id or "", None)
        return bool(reply[0] == "ok")

    def renew(self, claims: Sequence[Claim], *, lease_seconds: float) -> set[str]:
        if not claims:
            return set()
        args: list[Any] = [lease_seconds]
        for claim in claims:
            args += [claim.run_id or "", claim.token]
        _, held, missing = self._eval("RENEW", [self._k("leases")], args, again=args)
        by_id = {c.run_id: c for c in claims}
        for run_id in missing:
            self._vanished(by_id[run_id], by_id[run_id].attempt)
        with self._lock:
            for claim in claims:
                if claim.run_id not in held:
                    self._live.pop(claim.run_id or "", None)
        return set(held)

    def finish(
        self,
        claim: Claim,
        *,
        outcome: RunOutcome,
        attempt: int,
        error: str | None = None,
        result: str | None = None,
        cancel_requested: bool = False,
        killed: bool = False,
    ) -> bool:
        outcome = RunOutcome(outcome)
        args: list[Any] = [claim.token, outcome.value, attempt]
        args += [int(error is not None), error or "", int(result is not None), result or ""]
        keys = [self._k("run:", claim.run_id or ""), self._k("leases")]
        flags = [int(cancel_requested), int(killed)]
        reply = self._eval("FINISH", keys, [*args, 0, *flags], again=[*args, 1, *flags])
        if reply[0] == "missing":
            self._vanished(claim, attempt, outcome)
            return False
        with self._lock:
            self._live.pop(claim.run_id or "", None)
        return bool(reply[0] == "ok")

    def reap(self) -> list[RunRecord]:
        lost: list[RunRecord] = []
        while True:
            reply = self._eval("REAP", [self._k("leases")], [REAP_BATCH])
            lost += [record_from_hash(pairs(flat)) for flat in reply[1:]]
            if len(reply) - 1 < REAP_BATCH:
                return lost

    def retry_lost(self, run_id: str, *, owner: Owner, lease_seconds: float) -> Claim | None:
        keys = [self._k("run:", run_id), self._k("tokens"), self._k("leases")]
        reply = self._eval("RETRY_LOST", keys, [str(owner), lease_seconds])
        if reply[0] != "ok":
            return None
        _, token, attempt, expires, job_id, sched = reply
        with self._lock:
            self._live[run_id] = (str(owner), self._conn.epoch)
        return Claim(
            status=ClaimStatus.CLAIMED,
            fire=FireKey(job_id, from_us(sched)),
            run_id=run_id,
            token=int(token),
            attempt=int(attempt),
            lease_expires=from_us(expires),
        )

    # -- history ---------------------------------------------------------------------------
    def get_runs(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        if limit <= 0:
            return []
        key = self._k("allruns") if job_id is None else self._k("runs:", job_id)
        with self._errors("get_runs"):
            newest = self._redis.zrevrange(key, 0, limit - 1, withscores=True)
            if not newest:
                return []
            # runs sharing the oldest score may lie past the cut: fetch them all, sort below
            lowest = newest[-1][1]
            ids = dict.fromkeys([i for i, _ in newest])
            ids.update(dict.fromkeys(self._redis.zrangebyscore(key, lowest, lowest)))
            pipe = self._redis.pipeline(transaction=False)
            for run_id in ids:
                pipe.hgetall(self._k("run:", run_id))
            runs = [record_from_hash(h) for h in pipe.execute() if h]
        runs.sort(key=lambda r: (r.scheduled_time, r.claimed_at or EPOCH), reverse=True)
        return runs[:limit]

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._errors("get_run"):
            h = self._redis.hgetall(self._k("run:", run_id))
        return record_from_hash(h) if h else None
