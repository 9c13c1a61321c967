"""The Lua scripts of the bulk forms (batch ingest); see `scripts` for the shared
head and the conventions."""

from __future__ import annotations

from app.storage.redis.scripts import HEAD, SET_STATUS

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

#: allocate_status_refs (and allocate_status_ref, with one) for `ARGV[3]` refs of one
#: shard. KEYS[1] lists hash; ARGV[1] shard key prefix, ARGV[2] fill limit, ARGV[4..]
#: random candidate indices (the caller draws them with `secrets`), tried in turn.
#: Returns a flat {n, idx, n, idx, ...}, shorter when the candidates ran out (the
#: caller asks again for the rest). The lists hash is read once and written once per
#: list touched, not per ref: each `redis.call` costs redis-server more than the
#: command it runs, and the ref itself needs only its SETBIT.
ALLOCATE_MANY = """
local wanted, limit = tonumber(ARGV[3]), tonumber(ARGV[2])
local out = {}
local c = 4
local count = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local n, used = count - 1, limit
if count > 0 then used = tonumber(redis.call('HGET', KEYS[1], 'a' .. n) or '0') end
local added = 0  -- refs taken in list n by this call and not yet counted in 'a<n>'
local alloc = ARGV[1] .. 'alloc:' .. n
while #out < 2 * wanted and c <= #ARGV do
  if used >= limit then
    if added > 0 then redis.call('HINCRBY', KEYS[1], 'a' .. n, added) end
    n, count, used, added = count, count + 1, 0, 0
    redis.call('HSET', KEYS[1], 'count', count)
    alloc = ARGV[1] .. 'alloc:' .. n
  end
  while c <= #ARGV do
    local idx = tonumber(ARGV[c])
    c = c + 1
    if redis.call('SETBIT', alloc, idx, 1) == 0 then
      used, added = used + 1, added + 1
      out[#out + 1] = n
      out[#out + 1] = idx
      break
    end
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[1], 'a' .. n, added) end
return out
"""

#: save_entitlements for the writes of one shard. KEYS[3] lists hash; ARGV[6] shard
#: prefix, ARGV[7] number of writes, then per write: bucket key, field, expected
#: version, value, number of status triples, (n, idx, status)..., number of cards,
#: (number, record)..., audit record, index key, index field and entry. If any version does not
#: match, nothing is written and {'V', i, ...} lists the (1-based) writes that failed:
#: the caller drops them and hashes the others again. A first pass checks the versions
#: and notes where each write starts; the second writes, and the audit records go in
#: with one RPUSH (no table per write, one call fewer per write).
SAVE_MANY = (
    HEAD
    + SET_STATUS
    + """
local starts = {}
local failed = {'V'}
local i = 8
for w = 1, tonumber(ARGV[7]) do
  starts[w] = i
  if version(ARGV[i], ARGV[i + 1]) ~= ARGV[i + 2] then failed[#failed + 1] = w end
  i = i + 5 + 3 * tonumber(ARGV[i + 4])
  i = i + 1 + 2 * tonumber(ARGV[i]) + 3
end
if #failed > 1 then return failed end
if chain_moved() then return {'C'} end
local records = {}
for w = 1, #starts do
  local i = starts[w]
  redis.call('HSET', ARGV[i], ARGV[i + 1], ARGV[i + 3])
  i = statuses_and_cards(KEYS[3], ARGV[6], i + 4)
  records[w] = ARGV[i]
  index(ARGV[i + 1], ARGV[i + 2])
end
audit_many(records)
return {'O'}
"""
)
