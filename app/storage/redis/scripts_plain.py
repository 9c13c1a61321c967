"""The Lua scripts of the Redis store that write no audit record: reads on the hot
paths, rate counters, checkpoints and the archive's trimming (see `scripts` for the
audited writes)."""

from __future__ import annotations

from app.storage.redis.scripts import INDEX_FN

__all__ = [
    "ADD_CHECKPOINT",
    "CLIENT_BY_KEY",
    "HIT_RATE",
    "INDEX",
    "MOVE_HOLDERS",
    "MOVE_INDEXES",
    "MOVE_SEEN",
    "READ_CARD",
    "READ_FIELD",
    "READ_PROOF_BY_CODE",
    "READ_VALUE",
    "TRIM_ARCHIVED",
    "TRIM_CHECKPOINTS",
    "UNDO_HIT",
    "UNINDEX",
]

#: hit_rate: INCR and EXPIRE together. KEYS[1] counter; ARGV[1] TTL (s).
HIT_RATE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

#: undo_hit: one hit taken back. KEYS[1] counter. A counter that is gone stays gone
#: (DECR would create it without a TTL).
UNDO_HIT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

#: get_client_by_key_hash in one round trip. KEYS[1] clients hash, KEYS[2] key-hash index.
CLIENT_BY_KEY = """
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return false end
return redis.call('HGET', KEYS[1], id)
"""


# Plain reads on the hot paths (issuance, code and card checks) as one-command scripts:
# scripts are what the multiplexed connections carry (`mux`), and there a call
# costs the worker ~13 µs instead of redis-py's ~50-70 µs command path; redis-server
# spends a few µs more on EVALSHA than on the bare command.

# Two reads in one on a single node, where a script may reach a key of any slot: the
# second key is named by the first read's answer, so it is built here, from the text
# the caller gives around the shard label (so that `Layout` alone defines key names).

#: get_proof_by_code. KEYS[1] code key; ARGV[1], ARGV[2] the proof key before and after
#: the shard label (the jti follows). {code's value, proof record or nil}, or nil.
READ_PROOF_BY_CODE = """
local held = redis.call('GET', KEYS[1])
if not held then return false end
local label, jti = string.match(held, '^%d+ (%S+) (%S+)$')
if not label then return {held, false} end
return {held, redis.call('HGET', ARGV[1] .. label .. ARGV[2] .. jti, 'd')}
"""

#: get_cards for one number. KEYS[1] card directory; ARGV[1] the number; ARGV[2], ARGV[3]
#: the card key before and after the shard label (the number follows).
READ_CARD = """
local label = redis.call('HGET', KEYS[1], ARGV[1])
if not label then return false end
return redis.call('GET', ARGV[2] .. label .. ARGV[3] .. ARGV[1])
"""

#: GET KEYS[1]
READ_VALUE = """
return redis.call('GET', KEYS[1])
"""

#: HGET KEYS[1] ARGV[1]
READ_FIELD = """
return redis.call('HGET', KEYS[1], ARGV[1])
"""

#: keep a signed audit checkpoint. KEYS[1] the list of checkpoints, KEYS[2] the count
#: of those dropped (`TRIM_CHECKPOINTS`). ARGV[1] the count the caller read, dropped ones
#: included (a checkpoint names its predecessor: two signers must not both extend the
#: same one), ARGV[2] the note. Replies 1 when kept, 0 when another was kept first.
ADD_CHECKPOINT = """
local dropped = tonumber(string.match(redis.call('GET', KEYS[2]) or '0', '^%d+'))
if redis.call('LLEN', KEYS[1]) + dropped ~= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
return 1
"""

#: drop checkpoints 1..upto (counted with those dropped before), now in the archive.
#: KEYS[1] the list, KEYS[2] "<count> <note hash of the last>" of those dropped. ARGV[1]
#: upto, ARGV[2] the note of checkpoint upto, ARGV[3] its note hash. 1: done (now or
#: before), 0: checkpoint upto is not that note, or is the newest (nothing changed).
TRIM_CHECKPOINTS = """
local held = redis.call('GET', KEYS[2]) or '0 -'
local done, last = string.match(held, '^(%d+) (%S+)$')
local upto = tonumber(ARGV[1])
if tonumber(done) >= upto then
  if tonumber(done) > upto or last == ARGV[3] then return 1 end
  return 0
end
local n = upto - tonumber(done)
if redis.call('LLEN', KEYS[1]) <= n or redis.call('LINDEX', KEYS[1], n - 1) ~= ARGV[2] then
  return 0
end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. ARGV[3])
return 1
"""

#: drop records 1..upto of a chain, now in an archive segment. KEYS[1] the chain list,
#: KEYS[2] the shard's `archived` hash. ARGV[1] chain, ARGV[2] upto, ARGV[3] the hash of
#: record upto, ARGV[4] the archive's date (µs). 1: done (now or before), 0: the record
#: at upto is not the one archived (nothing changed).
TRIM_ARCHIVED = """
local done = redis.call('HGET', KEYS[2], ARGV[1])
local base = 0
if done then
  base = tonumber(string.match(done, '^%d+'))
  if base >= tonumber(ARGV[2]) then return 1 end
end
local n = tonumber(ARGV[2]) - base
local last = redis.call('LINDEX', KEYS[1], n - 1)
if not last then return 0 end
-- an element is "<seq>\\n<hash: 32 bytes><event>", or of the earlier layout
-- "<seq>\\n<prev hex>\\n<hash hex>\\n<event>" (64 hex digits and a newline after the first)
local cut = string.find(last, '\\n', 1, true)
if not cut then return 0 end
local seq = string.sub(last, 1, cut - 1)
local digest
if string.sub(last, cut + 65, cut + 65) == '\\n'
  and string.match(string.sub(last, cut + 1, cut + 64), '^[0-9a-f]+$') then
  digest = string.sub(last, cut + 66, cut + 129)
else
  digest = string.gsub(string.sub(last, cut + 1, cut + 32), '.', function(c)
    return string.format('%02x', string.byte(c))
  end)
end
if tonumber(seq) ~= tonumber(ARGV[2]) or digest ~= ARGV[3] then return 0 end
redis.call('LTRIM', KEYS[1], n, -1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
return 1
"""


#: drop entries of the citizens' verification index (their checks went to the
#: archive). KEYS index buckets of one shard; ARGV per bucket: the number of fields n,
#: then n pairs: a subject's field, the entries to drop (packed as stored: a byte of
#: length, then the entry). A field left empty goes.
UNINDEX = """
local function entries(packed)
  local out, at = {}, 1
  while at <= #packed do
    local stop = at + string.byte(packed, at)
    out[#out + 1] = string.sub(packed, at, stop)
    at = stop + 1
  end
  return out
end
local a = 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    local packed = redis.call('HGET', KEYS[k], ARGV[a])
    if packed then
      local gone = {}
      for _, e in ipairs(entries(ARGV[a + 1])) do gone[e] = true end
      local kept = {}
      for _, e in ipairs(entries(packed)) do
        if not gone[e] then kept[#kept + 1] = e end
      end
      if #kept == 0 then
        redis.call('HDEL', KEYS[k], ARGV[a])
      else
        redis.call('HSET', KEYS[k], ARGV[a], table.concat(kept))
      end
    end
    a = a + 2
  end
end
return 1
"""

# The moves of `migrate`, many keys of one shard a call (each call is one fsync with
# appendfsync always): each old key is moved whole, or not at all when another process
# moved it first (it is gone); they reply how many they moved.

#: holders of the earlier layout moved to their buckets. KEYS pairs: the holder's hash
#: `subj:<subject>`, its bucket; ARGV per pair: the number of fields n, then n pairs of
#: field, value.
MOVE_HOLDERS = """
local moved, a = 0, 1
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  a = a + 1
  if redis.call('EXISTS', KEYS[k]) == 1 then
    if n > 0 then redis.call('HSET', KEYS[k + 1], unpack(ARGV, a, a + 2 * n - 1)) end
    redis.call('DEL', KEYS[k])
    moved = moved + 1
  end
  a = a + 2 * n
end
return moved
"""

#: verification indexes of the earlier layout (lists `verif:<subject>`) moved to their
#: buckets. KEYS pairs: the list, its bucket; ARGV pairs: the subject's field, the
#: list's entries packed (newest first), put after any the field has (newer).
MOVE_INDEXES = """
local moved = 0
for k = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    local newer = redis.call('HGET', KEYS[k + 1], ARGV[k]) or ''
    if #newer + #ARGV[k + 1] > 0 then
      redis.call('HSET', KEYS[k + 1], ARGV[k], newer .. ARGV[k + 1])
    end
    redis.call('DEL', KEYS[k])
    moved = moved + 1
  end
end
return moved
"""

#: the checks of jtis in the earlier layout (a counter and a sorted set of
#: organisations) moved into their proofs' hashes. KEYS triples: the counter, the
#: sorted set, the proof hash.
MOVE_SEEN = """
local moved = 0
for k = 1, #KEYS, 3 do
  local count = redis.call('GET', KEYS[k])
  if count then
    local proof = KEYS[k + 2]
    local ttl = math.max(redis.call('PTTL', KEYS[k]), redis.call('PTTL', KEYS[k + 1]), 1)
    redis.call('HSET', proof, 'n', count)
    local orgs = redis.call('ZRANGE', KEYS[k + 1], 0, -1, 'WITHSCORES')
    for i = 1, #orgs, 2 do
      redis.call('HSET', proof, 'o' .. orgs[i], string.format('%d', tonumber(orgs[i + 1])))
    end
    if redis.call('PTTL', proof) < ttl then redis.call('PEXPIRE', proof, ttl) end
    redis.call('DEL', KEYS[k], KEYS[k + 1])
    moved = moved + 1
  end
end
return moved
"""

#: an index entry without a record (`store copy`, whose records are written apart).
#: KEYS[1] the index bucket; ARGV[1] the subject's field, then the entry.
INDEX = (
    INDEX_FN
    + """
index(KEYS[1], ARGV[1])
return 1
"""
)
