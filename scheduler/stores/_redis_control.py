"""Pause flags and requested runs in Redis: the scripts, and the store's methods that call them.

Keys, under the store's prefix, besides those of :mod:`scheduler.stores.redis`: the job
hash's ``paused`` field (``'1'``) and the set ``paused`` of the paused job ids (what the
heartbeat reads: one ``SMEMBERS``); ``queued`` and ``queued:<job>``, sorted sets of the
queued request ids by scheduled time. A request is a run hash (``trigger`` ``'manual'``,
``requested_by``, no ``claimed``) with its own ``fire:`` key, so it is in ``runs:<job>`` and
``allruns`` like any run. Each step is one script (see :mod:`scheduler.stores._redis_scripts`
for the conventions shared by every script).

Threads and state: a mixin of :class:`~scheduler.stores.redis.RedisStore`; the runs it
claims go into the store's ``_live`` under its lock, as claimed fires do.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..exceptions import JobNotFound
from . import Claim, ClaimStatus, FireKey, Owner, RunRecord, StoredJob
from ._control import REMOVED_REASON, not_queued
from ._redis_scripts import _HISTORY, _PRELUDE, from_us, job_from_hash, pairs, record_from_hash

if TYPE_CHECKING:
    from ._redis_conn import Client, RedisConnection

__all__ = ["REQUEST", "SCRIPTS", "SET_PAUSED", "TAKE_REQUEST", "RedisControl"]

#: the names of the scripts below (loaded with those of :mod:`._redis_scripts`)
SCRIPTS = ("REQUEST", "SET_PAUSED", "TAKE_REQUEST")

#: KEYS: epoch, job, paused set. ARGV: epoch, prefix, job_id, '1' or '0'.
#: Returns {'missing'} or {'ok', job hash as a flat list}.
SET_PAUSED = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[2]) == 0 then return {'missing'} end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[2], 'paused', '1')
  redis.call('SADD', KEYS[3], ARGV[3])
else
  redis.call('HDEL', KEYS[2], 'paused')
  redis.call('SREM', KEYS[3], ARGV[3])
end
return {'ok', redis.call('HGETALL', KEYS[2])}
"""
)

#: KEYS: epoch, job, queued, job's queued, tokens, all leases. ARGV: epoch, prefix,
#: history_limit, max_age, job_id, run_id, has_requested_by ('1'/'0'), requested_by, owner
#: ('' to queue the request; else it is taken at once by that owner), lease_seconds.
#: Returns {'missing'}, {'queued', sched} or {'claimed', sched, token, expires}. Safe to send
#: again: a run id that exists already is answered from its hash.
REQUEST = (
    _PRELUDE
    + _HISTORY
    + """
local job_id, run_id = ARGV[5], ARGV[6]
local rk = P .. 'run:' .. run_id
local done = redis.call('HMGET', rk, 'sched', 'token', 'lease')
if done[1] then
  if ARGV[9] == '' then return {'queued', done[1]} end
  return {'claimed', done[1], done[2], done[3]}
end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'missing'} end
local sched = now
while not redis.call('SET', P .. 'fire:' .. job_id .. '@' .. num(sched), run_id, 'NX') do
  sched = sched + 1
end
local fields = {'id', run_id, 'job', job_id, 'sched', num(sched), 'owner', ARGV[9],
                'coalesced', '0', 'attempt', '1', 'trigger', 'manual'}
if ARGV[7] == '1' then
  fields[#fields + 1] = 'requested_by'
  fields[#fields + 1] = ARGV[8]
end
if ARGV[9] == '' then
  fields[#fields + 1] = 'token'
  fields[#fields + 1] = '0'
  insert(run_id, job_id, sched, fields)
  redis.call('ZADD', KEYS[3], sched, run_id)
  redis.call('ZADD', KEYS[4], sched, run_id)
  return {'queued', num(sched)}
end
local token = redis.call('HINCRBY', KEYS[5], job_id, 1)
local expires = now + math.floor(tonumber(ARGV[10]) * 1000000)
for _, v in ipairs({'token', num(token), 'claimed', num(now), 'lease', num(expires)}) do
  fields[#fields + 1] = v
end
insert(run_id, job_id, sched, fields)
redis.call('ZADD', P .. 'leases:' .. job_id, expires, run_id)
redis.call('ZADD', KEYS[6], expires, run_id)
return {'claimed', num(sched), num(token), num(expires)}
"""
)

#: KEYS: epoch, run, tokens, all leases, queued. ARGV: epoch, prefix, run_id, owner,
#: lease_seconds, max_instances ('' for no limit), reason (job removed).
#: Returns {'taken'} | {'skipped'|'waiting', job, sched} | {'claimed', job, sched, token, expires}.
#: Safe to send again: a run this owner took and has not finished is answered 'claimed'.
TAKE_REQUEST = (
    _PRELUDE
    + """
local run_id = ARGV[3]
local r = redis.call('HMGET', KEYS[2], 'job', 'outcome', 'claimed', 'sched')
if r[1] and (not r[2]) and r[3] then
  local o = redis.call('HMGET', KEYS[2], 'owner', 'token', 'lease')
  if o[1] == ARGV[4] and o[3] then return {'claimed', r[1], r[4], o[2], o[3]} end
end
if (not r[1]) or r[2] or r[3] then
  redis.call('ZREM', KEYS[5], run_id)
  if r[1] then redis.call('ZREM', KEYS[5] .. ':' .. r[1], run_id) end
  return {'taken'}
end
local job_id = r[1]
local function dequeue()
  redis.call('ZREM', KEYS[5], run_id)
  redis.call('ZREM', KEYS[5] .. ':' .. job_id, run_id)
end
if redis.call('EXISTS', P .. 'job:' .. job_id) == 0 then
  redis.call('HSET', KEYS[2], 'outcome', 'skipped', 'claimed', num(now), 'finished', num(now),
             'error', ARGV[7], 'owner', ARGV[4])
  dequeue()
  return {'skipped', job_id, r[4]}
end
local lk = P .. 'leases:' .. job_id
if ARGV[6] ~= '' and redis.call('ZCOUNT', lk, '(' .. num(now), '+inf') >= tonumber(ARGV[6]) then
  return {'waiting', job_id, r[4]}
end
local token = redis.call('HINCRBY', KEYS[3], job_id, 1)
local expires = now + math.floor(tonumber(ARGV[5]) * 1000000)
redis.call('HSET', KEYS[2], 'token', num(token), 'owner', ARGV[4], 'claimed', num(now),
           'lease', num(expires))
dequeue()
redis.call('ZADD', lk, expires, run_id)
redis.call('ZADD', KEYS[4], expires, run_id)
return {'claimed', job_id, r[4], num(token), num(expires)}
"""
)


class RedisControl:
    """Mixed into :class:`~scheduler.stores.redis.RedisStore` (which owns the connection)."""

    if TYPE_CHECKING:
        _conn: RedisConnection
        _lock: threading.Lock
        _live: dict[str, tuple[str, str | None]]
        _k: Callable[..., str]
        _eval: Callable[..., list[Any]]
        _errors: Callable[[str], AbstractContextManager[None]]

        @property
        def _redis(self) -> Client: ...
        def _history_args(self) -> list[str]: ...

    def set_paused(self, job_id: str, paused: bool) -> StoredJob:
        args = [job_id, "1" if paused else "0"]
        keys = [self._k("job:", job_id), self._k("paused")]
        reply = self._eval("SET_PAUSED", keys, args, again=args)
        if reply[0] != "ok":
            raise JobNotFound(job_id)
        return job_from_hash(pairs(reply[1]))

    def paused_ids(self) -> set[str]:
        with self._errors("paused_ids"):
            return set(self._redis.smembers(self._k("paused")))

    def request_run(self, job_id: str, *, requested_by: str | None) -> str:
        run_id = uuid.uuid4().hex
        self._request(job_id, run_id, requested_by, "", 0.0)
        return run_id

    def claim_manual(
        self, job_id: str, *, owner: Owner, lease_seconds: float, requested_by: str | None
    ) -> Claim:
        run_id = uuid.uuid4().hex
        reply = self._request(job_id, run_id, requested_by, str(owner), lease_seconds)
        with self._lock:
            self._live[run_id] = (str(owner), self._conn.epoch)
        return Claim(
            status=ClaimStatus.CLAIMED,
            fire=FireKey(job_id, from_us(reply[1])),
            run_id=run_id,
            token=int(reply[2]),
            lease_expires=from_us(reply[3]),
        )

    def _request(
        self, job_id: str, run_id: str, requested_by: str | None, owner: str, lease: float
    ) -> list[Any]:
        keys = [self._k("job:", job_id), self._k("queued"), self._k("queued:", job_id)]
        keys += [self._k("tokens"), self._k("leases")]
        args: list[Any] = [*self._history_args(), job_id, run_id]
        args += ["1" if requested_by is not None else "0", requested_by or "", owner, lease]
        reply = self._eval("REQUEST", keys, args, again=args)
        if reply[0] == "missing":
            raise JobNotFound(job_id)
        return reply

    def queued_requests(self, job_id: str | None = None) -> int:
        key = self._k("queued") if job_id is None else self._k("queued:", job_id)
        with self._errors("queued_requests"):
            return int(self._redis.zcard(key))

    def queued_runs(self, limit: int = 100) -> list[RunRecord]:
        if limit <= 0:
            return []
        with self._errors("queued_runs"):
            ids = self._redis.zrange(self._k("queued"), 0, limit - 1)
            pipe = self._redis.pipeline(transaction=False)
            for run_id in ids:
                pipe.hgetall(self._k("run:", run_id))
            hashes = pipe.execute() if ids else []
        runs = [record_from_hash(h) for h in hashes if h]
        return [run for run in runs if run.outcome is None and run.claimed_at is None]

    def claim_request(
        self,
        run_id: str,
        *,
        owner: Owner,
        lease_seconds: float,
        max_instances: int | None,
    ) -> Claim:
        keys = [self._k("run:", run_id), self._k("tokens"), self._k("leases"), self._k("queued")]
        limit = "" if max_instances is None else str(max_instances)
        args: list[Any] = [run_id, str(owner), lease_seconds, limit, REMOVED_REASON]
        reply = self._eval("TAKE_REQUEST", keys, args, again=args)
        if reply[0] == "taken":
            return not_queued()
        fire = FireKey(reply[1], from_us(reply[2]))
        if reply[0] == "skipped":
            return Claim(status=ClaimStatus.SKIPPED, fire=fire, run_id=run_id)
        if reply[0] == "waiting":
            return Claim(status=ClaimStatus.WAITING, fire=fire, run_id=run_id)
        with self._lock:
            self._live[run_id] = (str(owner), self._conn.epoch)
        return Claim(
            status=ClaimStatus.CLAIMED,
            fire=fire,
            run_id=run_id,
            token=int(reply[3]),
            lease_expires=from_us(reply[4]),
        )
