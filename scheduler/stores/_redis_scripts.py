"""The Redis store's data layout: its Lua scripts (one per mutating step) and the conversion
of the hashes they write into the store's dataclasses.

Redis runs a script without interleaving any other command, so each script is the Redis
counterpart of one ``with self._lock:`` block of :class:`~scheduler.stores.memory.MemoryStore`.

Conventions shared by every script:

* ``KEYS[1]`` is the epoch key and ``ARGV[1]`` the epoch this client last saw; on a mismatch the
  script changes nothing and returns ``{'epoch', <current or nil>}`` (the data set was lost or
  replaced: see :meth:`RedisStore._epoch_changed`). ``ARGV[2]`` is the key prefix, used to build
  the keys of other runs (pruning, reaping), so the store does not support Redis Cluster.
* Times are integer microseconds since the Unix epoch, read from the server's ``TIME``; Redis 7
  replicates a script's effects, not the script, so reading the clock before writing is allowed.
  Lua numbers are doubles, exact up to 2**53 (year 2255 in microseconds); ``num()`` formats them
  without the exponent that ``tostring`` would use.
* A run is a hash ``<prefix>run:<id>``; an absent field is ``None`` in Python. Its fields: id, job,
  sched, outcome, attempt, token, claimed, started, finished, lease, error, result, owner,
  coalesced.
"""

from __future__ import annotations

from datetime import datetime
from typing import overload

from .. import _time
from .._time import EPOCH, to_us
from . import JobDefinition, RunOutcome, RunRecord, StoredJob

__all__ = [
    "CLAIM",
    "EPOCH",
    "FINISH",
    "MARK_BROKEN",
    "MARK_STARTED",
    "REAP",
    "REGISTER",
    "RENEW",
    "RETRY_LOST",
    "SCRIPTS",
    "UNCERTAIN",
    "UNREGISTER",
    "from_us",
    "job_from_hash",
    "pairs",
    "record_from_hash",
    "to_us",
]

#: the names of the scripts below
SCRIPTS = (
    "CLAIM",
    "FINISH",
    "MARK_BROKEN",
    "MARK_STARTED",
    "REAP",
    "REGISTER",
    "RENEW",
    "RETRY_LOST",
    "UNCERTAIN",
    "UNREGISTER",
)

@overload
def from_us(value: str | int) -> datetime: ...
@overload
def from_us(value: None) -> None: ...
def from_us(value: str | int | None) -> datetime | None:
    """Microseconds since the Unix epoch (as a script stores them) to an aware UTC datetime;
    a missing field stays None."""
    return None if value is None else _time.from_us(value)


def record_from_hash(h: dict[str, str]) -> RunRecord:
    return RunRecord(
        run_id=h["id"],
        job_id=h["job"],
        scheduled_time=from_us(h["sched"]),
        outcome=RunOutcome(h["outcome"]) if "outcome" in h else None,
        attempt=int(h.get("attempt", 1)),
        token=int(h.get("token", 0)),
        claimed_at=from_us(h.get("claimed")),
        started_at=from_us(h.get("started")),
        finished_at=from_us(h.get("finished")),
        lease_expires=from_us(h.get("lease")),
        error=h.get("error"),
        result=h.get("result"),
        owner=h.get("owner", ""),
        coalesced=int(h.get("coalesced", 0)),
        cancel_requested=h.get("cancel") == "1",
        killed=h.get("killed") == "1",
        trigger=h.get("trigger", "schedule"),
        requested_by=h.get("requested_by"),
    )


def job_from_hash(h: dict[str, str]) -> StoredJob:
    return StoredJob(
        definition=JobDefinition.from_json(h["def"]),
        fingerprint=h["fp"],
        anchor=from_us(h["anchor"]),
        last_fire=from_us(h.get("last_fire")),
        registered_by=h.get("registered_by", ""),
        registered_at=from_us(h["registered_at"]),
        broken=h.get("broken"),
        paused=h.get("paused") == "1",
    )


def pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


_PRELUDE = """
if redis.replicate_commands then redis.replicate_commands() end
local P = ARGV[2]
local current_epoch = redis.call('GET', KEYS[1])
if current_epoch ~= ARGV[1] then return {'epoch', current_epoch} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function num(n) return string.format('%.0f', n) end
"""

# insert a run and prune the job's history (ARGV[3] history_limit, ARGV[4] max age in µs;
# '' means no limit). Only finished runs are pruned; the job's last_fire still guards a pruned
# fire against a second claim, as the memory store's dropped run keys are.
_HISTORY = """
local function forget(run_id, job_id)
  local rk = P .. 'run:' .. run_id
  local sched = redis.call('HGET', rk, 'sched')
  if sched then redis.call('DEL', P .. 'fire:' .. job_id .. '@' .. sched) end
  redis.call('DEL', rk)
  redis.call('ZREM', P .. 'runs:' .. job_id, run_id)
  redis.call('ZREM', P .. 'allruns', run_id)
end

local function prune(job_id)
  local zk = P .. 'runs:' .. job_id
  if ARGV[3] ~= '' then
    local excess = redis.call('ZCARD', zk) - tonumber(ARGV[3])
    local doomed = {}
    local start = 0
    while excess > 0 do
      local ids = redis.call('ZRANGE', zk, start, start + 99)
      if #ids == 0 then break end
      for _, id in ipairs(ids) do
        if excess > 0 then
          local rk = P .. 'run:' .. id
          if redis.call('HGET', rk, 'outcome') or redis.call('EXISTS', rk) == 0 then
            doomed[#doomed + 1] = id
            excess = excess - 1
          end
        end
      end
      start = start + 100
    end
    for _, id in ipairs(doomed) do forget(id, job_id) end
  end
  if ARGV[4] ~= '' then
    local cutoff = now - tonumber(ARGV[4])
    local ids = redis.call('ZRANGEBYSCORE', zk, '-inf', '(' .. num(cutoff))
    for _, id in ipairs(ids) do
      local r = redis.call('HMGET', P .. 'run:' .. id, 'outcome', 'finished', 'sched')
      if r[1] and tonumber(r[2] or r[3]) < cutoff then forget(id, job_id) end
    end
  end
end

local function insert(run_id, job_id, sched, fields)
  redis.call('HSET', P .. 'run:' .. run_id, unpack(fields))
  redis.call('ZADD', P .. 'runs:' .. job_id, sched, run_id)
  redis.call('ZADD', P .. 'allruns', sched, run_id)
  prune(job_id)
end
"""

#: KEYS: epoch, job, jobs. ARGV: epoch, prefix, job_id, definition JSON, fingerprint, owner.
#: Returns {'same'|'new', anchor, last_fire, replaced job hash as a flat list (new only)}.
REGISTER = (
    _PRELUDE
    + """
local old = redis.call('HGETALL', KEYS[2])
local h = {}
for i = 1, #old, 2 do h[old[i]] = old[i + 1] end
if h['fp'] == ARGV[5] then
  redis.call('HSET', KEYS[2], 'def', ARGV[4], 'registered_by', ARGV[6], 'registered_at', num(now))
  return {'same', h['anchor'], h['last_fire'] or false}
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'def', ARGV[4], 'fp', ARGV[5], 'anchor', num(now),
           'registered_by', ARGV[6], 'registered_at', num(now))
if h['last_fire'] then redis.call('HSET', KEYS[2], 'last_fire', h['last_fire']) end
if h['paused'] then redis.call('HSET', KEYS[2], 'paused', h['paused']) end
redis.call('ZADD', KEYS[3], 'NX', now, ARGV[3])
return {'new', num(now), h['last_fire'] or false, old}
"""
)

#: KEYS: epoch, job, jobs. ARGV: epoch, prefix, job_id.
UNREGISTER = (
    _PRELUDE
    + """
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('SREM', P .. 'paused', ARGV[3])
return {'ok'}
"""
)

#: KEYS: epoch, job. ARGV: epoch, prefix, reason.
MARK_BROKEN = (
    _PRELUDE
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'broken', ARGV[3]) end
return {'ok'}
"""
)

#: KEYS: epoch, job, fire key, tokens, job leases, all leases.
#: ARGV: epoch, prefix, history_limit, max_age, job_id, sched, fingerprint, owner, coalesced,
#: run_id, mode ('run' or 'missed'), max_instances, lease_seconds, reason, covers_from (the
#: earliest fire the record accounts for), anchor ('' when the caller's trigger has none).
#: Returns {'superseded'} | {'taken'} | {'missed'} | {'skipped'} | {'claimed', token, expires}.
#: A repeated call with the same run id (the reply to the first was lost) returns what the first
#: call did instead of 'taken', so a claimant that lost its connection can ask again safely.
CLAIM = (
    _PRELUDE
    + _HISTORY
    + """
local job_id, sched, run_id = ARGV[5], ARGV[6], ARGV[10]
local existing = redis.call('GET', KEYS[3])
if existing == run_id then
  local r = redis.call('HMGET', P .. 'run:' .. run_id, 'outcome', 'token', 'lease')
  if r[1] then return {r[1]} end
  return {'claimed', r[2], r[3]}
end
local j = redis.call('HMGET', KEYS[2], 'fp', 'broken', 'last_fire', 'anchor')
if (not j[1]) or j[1] ~= ARGV[7] or j[2] then return {'superseded'} end
if ARGV[16] ~= '' and j[4] ~= ARGV[16] then return {'superseded'} end
if j[3] and tonumber(j[3]) >= tonumber(ARGV[15]) then return {'taken'} end
if not redis.call('SET', KEYS[3], run_id, 'NX') then return {'taken'} end
redis.call('HSET', KEYS[2], 'last_fire', sched)
local fields = {'id', run_id, 'job', job_id, 'sched', sched, 'claimed', num(now),
                'owner', ARGV[8], 'coalesced', ARGV[9], 'attempt', '1', 'token', '0'}
local function finished(outcome, err)
  for _, v in ipairs({'outcome', outcome, 'finished', num(now), 'error', err}) do
    fields[#fields + 1] = v
  end
  insert(run_id, job_id, sched, fields)
  return {outcome}
end
if ARGV[11] == 'missed' then return finished('missed', ARGV[14]) end
local live = redis.call('ZCOUNT', KEYS[5], '(' .. num(now), '+inf')
if live >= tonumber(ARGV[12]) then
  return finished('skipped', 'max_instances (' .. ARGV[12] .. ') reached')
end
local token = redis.call('HINCRBY', KEYS[4], job_id, 1)
local expires = now + math.floor(tonumber(ARGV[13]) * 1000000)
fields[#fields] = num(token)
fields[#fields + 1] = 'lease'
fields[#fields + 1] = num(expires)
insert(run_id, job_id, sched, fields)
redis.call('ZADD', KEYS[5], expires, run_id)
redis.call('ZADD', KEYS[6], expires, run_id)
return {'claimed', num(token), num(expires)}
"""
)

#: KEYS: epoch, run. ARGV: epoch, prefix, token, attempt. Returns {'ok'|'fenced'|'missing'}.
MARK_STARTED = (
    _PRELUDE
    + """
local r = redis.call('HMGET', KEYS[2], 'token', 'outcome', 'started', 'job')
if not r[4] then return {'missing'} end
if r[2] or r[1] ~= ARGV[3] then return {'fenced'} end
redis.call('HSET', KEYS[2], 'attempt', ARGV[4])
if not r[3] then redis.call('HSET', KEYS[2], 'started', num(now)) end
return {'ok'}
"""
)

#: KEYS: epoch, all leases. ARGV: epoch, prefix, lease_seconds, then run id and token pairs.
#: Returns {'ok', {extended run ids}, {run ids whose hash is gone}}.
RENEW = (
    _PRELUDE
    + """
local expires = now + math.floor(tonumber(ARGV[3]) * 1000000)
local held, missing = {}, {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  local rk = P .. 'run:' .. id
  local r = redis.call('HMGET', rk, 'token', 'outcome', 'job')
  if not r[3] then
    missing[#missing + 1] = id
  elseif (not r[2]) and r[1] == ARGV[i + 1] then
    redis.call('HSET', rk, 'lease', num(expires))
    redis.call('ZADD', P .. 'leases:' .. r[3], expires, id)
    redis.call('ZADD', KEYS[2], expires, id)
    held[#held + 1] = id
  end
end
return {'ok', held, missing}
"""
)

#: KEYS: epoch, run, all leases. ARGV: epoch, prefix, token, outcome, attempt, has_error, error,
#: has_result, result, repeat ('1' when re-sent after a lost reply), cancel_requested ('1'/'0'),
#: killed ('1'/'0').
#: Returns {'ok'|'fenced'|'missing'}.
FINISH = (
    _PRELUDE
    + """
local r = redis.call('HMGET', KEYS[2], 'token', 'outcome', 'job', 'id')
if not r[3] then return {'missing'} end
if r[2] then
  if ARGV[10] == '1' and r[1] == ARGV[3] and r[2] == ARGV[4] then return {'ok'} end
  return {'fenced'}
end
if r[1] ~= ARGV[3] then return {'fenced'} end
redis.call('HSET', KEYS[2], 'outcome', ARGV[4], 'attempt', ARGV[5], 'finished', num(now))
redis.call('HDEL', KEYS[2], 'lease')
if ARGV[6] == '1' then redis.call('HSET', KEYS[2], 'error', ARGV[7])
else redis.call('HDEL', KEYS[2], 'error') end
if ARGV[8] == '1' then redis.call('HSET', KEYS[2], 'result', ARGV[9])
else redis.call('HDEL', KEYS[2], 'result') end
if ARGV[11] == '1' then redis.call('HSET', KEYS[2], 'cancel', '1')
else redis.call('HDEL', KEYS[2], 'cancel') end
if ARGV[12] == '1' then redis.call('HSET', KEYS[2], 'killed', '1')
else redis.call('HDEL', KEYS[2], 'killed') end
redis.call('ZREM', P .. 'leases:' .. r[3], r[4])
redis.call('ZREM', KEYS[3], r[4])
return {'ok'}
"""
)

#: KEYS: epoch, all leases. ARGV: epoch, prefix, batch size.
#: Returns {'ok', {flat run hash}, ...}: the runs this call turned LOST.
REAP = (
    _PRELUDE
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', num(now), 'LIMIT', 0, tonumber(ARGV[3]))
local out = {'ok'}
for _, id in ipairs(ids) do
  local rk = P .. 'run:' .. id
  local r = redis.call('HMGET', rk, 'outcome', 'started', 'owner', 'job')
  redis.call('ZREM', KEYS[2], id)
  if r[4] then redis.call('ZREM', P .. 'leases:' .. r[4], id) end
  if r[4] and not r[1] then
    local err = 'lease expired (never started)'
    if r[2] then err = 'lease expired (owner ' .. (r[3] or '') .. ' stopped renewing)' end
    redis.call('HSET', rk, 'outcome', 'lost', 'finished', num(now), 'error', err)
    redis.call('HDEL', rk, 'lease')
    out[#out + 1] = redis.call('HGETALL', rk)
  end
end
return out
"""
)

#: KEYS: epoch, run, tokens, all leases. ARGV: epoch, prefix, owner, lease_seconds.
#: Returns {'no'} or {'ok', token, attempt, expires, job, sched}.
RETRY_LOST = (
    _PRELUDE
    + """
local r = redis.call('HMGET', KEYS[2], 'outcome', 'job', 'attempt', 'sched', 'id')
if r[1] ~= 'lost' then return {'no'} end
local token = redis.call('HINCRBY', KEYS[3], r[2], 1)
local attempt = tonumber(r[3]) + 1
local expires = now + math.floor(tonumber(ARGV[4]) * 1000000)
redis.call('HDEL', KEYS[2], 'outcome', 'started', 'finished')
redis.call('HSET', KEYS[2], 'attempt', num(attempt), 'token', num(token), 'owner', ARGV[3],
           'lease', num(expires))
redis.call('ZADD', P .. 'leases:' .. r[2], expires, r[5])
redis.call('ZADD', KEYS[4], expires, r[5])
return {'ok', num(token), num(attempt), num(expires), r[2], r[4]}
"""
)

#: Record a run whose hash vanished (data loss) as UNCERTAIN, unless its fire was claimed again.
#: KEYS: epoch, run, fire key, job. ARGV: epoch, prefix, history_limit, max_age, run_id, job_id,
#: sched, token, attempt, owner, error. Returns {'recorded'|'exists'|'refired'}.
UNCERTAIN = (
    _PRELUDE
    + _HISTORY
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return {'exists'} end
if not redis.call('SET', KEYS[3], ARGV[5], 'NX') then return {'refired'} end
local last = redis.call('HGET', KEYS[4], 'last_fire')
if redis.call('EXISTS', KEYS[4]) == 1 and ((not last) or tonumber(last) < tonumber(ARGV[7])) then
  redis.call('HSET', KEYS[4], 'last_fire', ARGV[7])
end
insert(ARGV[5], ARGV[6], ARGV[7], {'id', ARGV[5], 'job', ARGV[6], 'sched', ARGV[7],
  'outcome', 'uncertain', 'token', ARGV[8], 'attempt', ARGV[9], 'owner', ARGV[10],
  'finished', num(now), 'error', ARGV[11], 'coalesced', '0'})
return {'recorded'}
"""
)
