"""The Lua scripts of the Redis store that write no audit record: reads on the hot
paths, rate counters, checkpoints and the archive's trimming (see `scripts` for the
audited writes)."""

from __future__ import annotations

__all__ = [
    "ADD_CHECKPOINT",
    "CLIENT_BY_KEY",
    "HIT_RATE",
    "MOVE_HOLDER",
    "MOVE_INDEX",
    "MOVE_SEEN",
    "READ_CARD",
    "READ_FIELD",
    "READ_PROOF_BY_CODE",
    "READ_VALUE",
    "TRIM_ARCHIVED",
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

#: keep a signed audit checkpoint. KEYS[1] the list of checkpoints. ARGV[1] the count
#: the caller read (a checkpoint names its predecessor: two signers must not both extend
#: the same one), ARGV[2] the note. Replies 1 when kept, 0 when another was kept first.
ADD_CHECKPOINT = """
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[2])
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
#: archive). KEYS[1] an index bucket; ARGV pairs: a subject's field, the entries to drop
#: (packed as stored: a byte of length, then the entry). A field left empty goes.
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
for a = 1, #ARGV, 2 do
  local packed = redis.call('HGET', KEYS[1], ARGV[a])
  if packed then
    local gone = {}
    for _, e in ipairs(entries(ARGV[a + 1])) do gone[e] = true end
    local kept = {}
    for _, e in ipairs(entries(packed)) do
      if not gone[e] then kept[#kept + 1] = e end
    end
    if #kept == 0 then
      redis.call('HDEL', KEYS[1], ARGV[a])
    else
      redis.call('HSET', KEYS[1], ARGV[a], table.concat(kept))
    end
  end
end
return 1
"""

#: one holder of the earlier layout moved to its bucket (`migrate`). KEYS[1] the
#: holder's hash `subj:<subject>`, KEYS[2] the bucket; ARGV pairs of field, value. 0 when
#: the old hash is gone already (another process moved it).
MOVE_HOLDER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV))
redis.call('DEL', KEYS[1])
return 1
"""

#: one verification index of the earlier layout (a list `verif:<subject>`) moved to its
#: bucket. KEYS[1] the list, KEYS[2] the bucket; ARGV[1] the subject's field, ARGV[2]
#: the list's entries packed (newest first), put after any the field has (newer).
MOVE_INDEX = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local newer = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if #newer + #ARGV[2] > 0 then redis.call('HSET', KEYS[2], ARGV[1], newer .. ARGV[2]) end
redis.call('DEL', KEYS[1])
return 1
"""

#: the checks of one jti in the earlier layout (a counter and a sorted set of
#: organisations) moved into its proof's hash. KEYS[1] the counter, KEYS[2] the sorted
#: set, KEYS[3] the proof hash.
MOVE_SEEN = """
local count = redis.call('GET', KEYS[1])
if not count then return 0 end
local ttl = math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]), 1)
redis.call('HSET', KEYS[3], 'n', count)
local orgs = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = 1, #orgs, 2 do
  redis.call('HSET', KEYS[3], 'o' .. orgs[i], string.format('%d', tonumber(orgs[i + 1])))
end
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""
