"""The Lua scripts of the bulk forms (batch ingest); see redis_scripts for the shared
head and the conventions."""

from __future__ import annotations

from app.storage.redis_scripts import HEAD, SET_STATUS

__all__ = ["ALLOCATE_MANY", "GET_MANY", "SAVE_MANY"]

#: get_entitlements for the keys of one shard: HGET KEYS[i] ARGV[i] for each i, in one
#: reply (a missing record is a nil in its place). A script, not a pipeline of HGETs:
#: redis-py builds and parses a pipeline command by command in Python, which was a
#: quarter of the batch-ingest CPU.
GET_MANY = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, ARGV[i]) end
return out
"""

#: allocate_status_refs for `ARGV[3]` refs of one shard: as ALLOCATE, drawing from the
#: candidates ARGV[4..] in turn. Returns a flat {n, idx, n, idx, ...}, shorter when the
#: candidates ran out (the caller asks again for the rest).
ALLOCATE_MANY = """
local wanted = tonumber(ARGV[3])
local out = {}
local c = 4
while #out < 2 * wanted and c <= #ARGV do
  local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
  local n = count - 1
  if count == 0 or tonumber(redis.call('HGET', KEYS[1], 'a' .. n) or '0') >= tonumber(ARGV[2]) then
    n = count
    redis.call('HSET', KEYS[1], 'count', count + 1)
  end
  local alloc = ARGV[1] .. 'alloc:' .. n
  while c <= #ARGV do
    local idx = tonumber(ARGV[c])
    c = c + 1
    if redis.call('SETBIT', alloc, idx, 1) == 0 then
      redis.call('HINCRBY', KEYS[1], 'a' .. n, 1)
      out[#out + 1] = n
      out[#out + 1] = idx
      break
    end
  end
end
return out
"""

#: save_entitlements for the writes of one shard. KEYS[3] lists hash; ARGV[6] shard
#: prefix, ARGV[7] number of writes, then per write: subject key, type, expected version,
#: new version, record, number of status triples, (n, idx, status)..., number of cards,
#: (number, record)..., audit record, index key, index value. If any version does not
#: match, nothing is written and {'V', i, ...} lists the (1-based) writes that failed:
#: the caller drops them and hashes the others again.
SAVE_MANY = (
    HEAD
    + SET_STATUS
    + """
local writes = {}
local failed = {'V'}
local i = 8
for w = 1, tonumber(ARGV[7]) do
  local wr = {key = ARGV[i], type = ARGV[i + 1], expected = ARGV[i + 2],
              version = ARGV[i + 3], record = ARGV[i + 4], statuses = {}, cards = {}}
  local ns = tonumber(ARGV[i + 5])
  i = i + 6
  for _ = 1, ns do
    local status = {tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}
    wr.statuses[#wr.statuses + 1] = status
    i = i + 3
  end
  local nc = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, nc do
    wr.cards[#wr.cards + 1] = {ARGV[i], ARGV[i + 1]}
    i = i + 2
  end
  wr.audit, wr.ikey, wr.ival = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  local stored = redis.call('HGET', wr.key, 'v:' .. wr.type)
  if (stored or '') ~= wr.expected then failed[#failed + 1] = w end
  writes[w] = wr
end
if #failed > 1 then return failed end
if chain_moved() then return {'C'} end
for _, wr in ipairs(writes) do
  redis.call('HSET', wr.key, wr.type, wr.record, 'v:' .. wr.type, wr.version)
  for _, s in ipairs(wr.statuses) do set_status(KEYS[3], ARGV[6], s[1], s[2], s[3]) end
  for _, card in ipairs(wr.cards) do redis.call('SET', ARGV[6] .. 'card:' .. card[1], card[2]) end
  audit(wr.audit, wr.ikey, wr.ival)
end
return {'O'}
"""
)
