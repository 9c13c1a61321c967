"""The Lua scripts of the Redis store: each one is a whole atomic write on one shard.

A script runs to completion with nothing else interleaved, and with AOF its effects are
logged as one MULTI/EXEC, so a write and its audit record are stored together or not at
all. Every audited script has the same head:

    KEYS[1] the chain list, KEYS[2] the shard's chain registry (set)
    ARGV[1] the chain length the caller hashed against, ARGV[2] the chain name,
    ARGV[3] the record, ARGV[4] a verification-index key or '', ARGV[5] the event for it

A chain's name goes into the registry with its first record (a set: once is enough),
and a verification index is trimmed only once it outgrows its cap: every `redis.call`
from Lua costs redis-server a few µs, and a check runs on every online verification.

The caller computes the SHA-256 chain hash (Redis Lua has no SHA-256) against the head it
believes in; the script refuses with {'C'} when the chain moved meanwhile (a write whose
reply was lost), and the caller re-reads the head and tries again. Checks that refuse
come first: a refused script writes nothing.

Keys not in KEYS (computed from a prefix) are always in the same hash tag, hence the same
slot, as KEYS[1].
"""

from __future__ import annotations

__all__ = [
    "ADD_CHECKPOINT",
    "ADD_CLIENT",
    "APPEND",
    "CHECK",
    "CLAIM_CODE",
    "CLIENT_BY_KEY",
    "HEAD",
    "HIT_RATE",
    "READ_CARD",
    "READ_FIELD",
    "READ_PROOF_BY_CODE",
    "READ_VALUE",
    "REVOKE_CLIENT",
    "SAVE_ENTITLEMENT",
    "SAVE_PROOF",
    "SAVE_PROOF_WITH_CODE",
    "SET_STATUS",
    "TRIM_ARCHIVED",
    "UNDO_HIT",
    "VERIF_CAP",
]

#: entries kept per subject in the verification index (GET /v1/me/verifications)
VERIF_CAP = 1000

HEAD = f"""
local function chain_moved()
  local len = redis.call('LLEN', KEYS[1])
  if len == tonumber(ARGV[1]) then return false end
  -- records archived from the chain's start are not in the list any more
  local done = redis.call('HGET', string.gsub(KEYS[2], 'chains$', 'archived'), ARGV[2])
  return not done or len + tonumber(string.match(done, '^%d+')) ~= tonumber(ARGV[1])
end
local function index(ikey, ival)
  if ikey ~= '' and redis.call('LPUSH', ikey, ival) > {VERIF_CAP} then
    redis.call('LTRIM', ikey, 0, {VERIF_CAP - 1})
  end
end
local function register()
  -- a chain's name goes into the shard's registry with its first record
  if ARGV[1] == '0' then redis.call('SADD', KEYS[2], ARGV[2]) end
end
local function audit(record, ikey, ival)
  redis.call('RPUSH', KEYS[1], record)
  register()
  index(ikey, ival)
end
local function audit_many(records)
  -- one RPUSH for many records (unpack is bounded by Lua's C stack: 1000 at a time)
  for i = 1, #records, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(records, i, math.min(i + 999, #records)))
  end
  register()
end
"""

#: append_audit. No extra keys.
APPEND = (
    HEAD
    + """
if chain_moved() then return {'C'} end
audit(ARGV[3], ARGV[4], ARGV[5])
return {'O'}
"""
)

# sets the status of (n, idx), marking it allocated (and its list existing) if it was not:
# a ref restored from elsewhere must never be handed out again
SET_STATUS = """
local function set_status(lists, prefix, n, idx, status)
  if redis.call('SETBIT', prefix .. 'alloc:' .. n, idx, 1) == 0 then
    redis.call('HINCRBY', lists, 'a' .. n, 1)
    local count = tonumber(redis.call('HGET', lists, 'count') or '0')
    if n >= count then redis.call('HSET', lists, 'count', n + 1) end
  end
  redis.call('BITFIELD', prefix .. 'bits:' .. n, 'SET', 'u2', '#' .. idx, status)
end
"""

#: save_entitlement. KEYS[3] subject hash, KEYS[4] lists hash. ARGV[6] shard prefix,
#: ARGV[7] type, ARGV[8] expected version ('' = must not exist), ARGV[9] new version,
#: ARGV[10] record, ARGV[11] number of status triples, then (n, idx, status)...,
#: then the number of cards and (number, record)...
SAVE_ENTITLEMENT = (
    HEAD
    + SET_STATUS
    + """
local stored = redis.call('HGET', KEYS[3], 'v:' .. ARGV[7])
if (stored or '') ~= ARGV[8] then return {'V', stored or ''} end
if chain_moved() then return {'C'} end
redis.call('HSET', KEYS[3], ARGV[7], ARGV[10], 'v:' .. ARGV[7], ARGV[9])
local i = 12
for _ = 1, tonumber(ARGV[11]) do
  set_status(KEYS[4], ARGV[6], tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
  i = i + 3
end
local ncards = tonumber(ARGV[i])
i = i + 1
for _ = 1, ncards do
  redis.call('SET', ARGV[6] .. 'card:' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
audit(ARGV[3], ARGV[4], ARGV[5])
return {'O'}
"""
)

#: the code half of save_proof, on the code's own slot. KEYS[1] code key; ARGV[1] the
#: caller's now less the hold (µs): a code whose proof expired before that is free;
#: ARGV[2] value "<expires µs> <shard> <jti>", ARGV[3] TTL (ms) for garbage collection
#: only: whether a code is held is decided by comparing with the caller's `now`.
CLAIM_CODE = """
local held = redis.call('GET', KEYS[1])
if held then
  local expires = tonumber(string.match(held, '^(%d+)'))
  if expires > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

#: save_proof on the shard. KEYS[3] proof hash; ARGV[6] subject, ARGV[7] record,
#: ARGV[8] TTL (ms).
SAVE_PROOF = (
    HEAD
    + """
if chain_moved() then return {'C'} end
redis.call('HSET', KEYS[3], 's', ARGV[6], 'd', ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
audit(ARGV[3], ARGV[4], ARGV[5])
return {'O'}
"""
)

#: save_proof with its code on a single node, where every key is on the one server: the
#: code claim (as CLAIM_CODE) and the proof (as SAVE_PROOF) in one atomic write, one
#: durable round trip instead of two. KEYS[3] proof hash, KEYS[4] code key; ARGV[6..8]
#: as SAVE_PROOF, ARGV[9] now less the hold (µs), ARGV[10] the code's value, ARGV[11]
#: its TTL (ms). {'X'} when another proof holds the code (nothing written).
SAVE_PROOF_WITH_CODE = (
    HEAD
    + """
local held = redis.call('GET', KEYS[4])
if held and tonumber(string.match(held, '^(%d+)')) > tonumber(ARGV[9]) then return {'X'} end
if chain_moved() then return {'C'} end
redis.call('SET', KEYS[4], ARGV[10], 'PX', ARGV[11])
redis.call('HSET', KEYS[3], 's', ARGV[6], 'd', ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
audit(ARGV[3], ARGV[4], ARGV[5])
return {'O'}
"""
)

#: check_and_record. KEYS[3] alloc bitmap, KEYS[4] status bits, KEYS[5] proof hash,
#: KEYS[6] seen counter, KEYS[7] seen organisations (zset org -> last check µs).
#: ARGV[3..5] the audit record for the status the caller expects, ARGV[6] idx (-1: not
#: one of ours), ARGV[7] '1' to count the check (a jti was given), ARGV[8] '1' if the
#: subject must come from the proof registry, ARGV[9] the subject the record was built
#: with ('' = none), ARGV[10] the caller's subject ('' = none), ARGV[11] org, ARGV[12] now
#: µs, ARGV[13] window start µs, ARGV[14] TTL (ms) of the seen keys, ARGV[15] the status
#: the record was built for.
#: Returns {'S', subject, status, the proof's record ('' = none)} when the record names
#: another subject, {'R', status} when the status is another one (in both cases nothing is
#: written: the caller builds the right record and calls again), else
#: {'O', status[, count, organisations]}.
CHECK = (
    HEAD
    + """
local status = 1
local idx = tonumber(ARGV[6])
if idx >= 0 and redis.call('GETBIT', KEYS[3], idx) == 1 then
  status = redis.call('BITFIELD', KEYS[4], 'GET', 'u2', '#' .. idx)[1]
end
if ARGV[8] == '1' then
  local filled = redis.call('HGET', KEYS[5], 's') or ARGV[10]
  if filled ~= ARGV[9] then
    return {'S', filled, status, redis.call('HGET', KEYS[5], 'd') or ''}
  end
end
if status ~= tonumber(ARGV[15]) then return {'R', status} end
if chain_moved() then return {'C'} end
audit(ARGV[3], ARGV[4], ARGV[5])
if ARGV[7] ~= '1' then return {'O', status} end
local count = redis.call('INCR', KEYS[6]) - 1
redis.call('PEXPIRE', KEYS[6], ARGV[14])
local orgs = redis.call('ZCOUNT', KEYS[7], ARGV[13], '+inf')
redis.call('ZADD', KEYS[7], 'GT', ARGV[12], ARGV[11])
redis.call('PEXPIRE', KEYS[7], ARGV[14])
return {'O', status, count, orgs}
"""
)

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

#: add_client. KEYS[3] clients hash, KEYS[4] key-hash index; ARGV[6] id, ARGV[7] key
#: hash, ARGV[8] record. {'V'} if the id or the key hash is taken.
ADD_CLIENT = (
    HEAD
    + """
if redis.call('HEXISTS', KEYS[3], ARGV[6]) == 1 or redis.call('HEXISTS', KEYS[4], ARGV[7]) == 1
then return {'V'} end
if chain_moved() then return {'C'} end
redis.call('HSET', KEYS[3], ARGV[6], ARGV[8])
redis.call('HSET', KEYS[4], ARGV[7], ARGV[6])
audit(ARGV[3], ARGV[4], ARGV[5])
return {'O'}
"""
)

#: revoke_client as compare-and-set: KEYS[3] clients hash; ARGV[6] id, ARGV[7] the
#: record read before, ARGV[8] the revoked record. {'V'} if it changed meanwhile.
REVOKE_CLIENT = (
    HEAD
    + """
if redis.call('HGET', KEYS[3], ARGV[6]) ~= ARGV[7] then return {'V'} end
if chain_moved() then return {'C'} end
redis.call('HSET', KEYS[3], ARGV[6], ARGV[8])
audit(ARGV[3], ARGV[4], ARGV[5])
return {'O'}
"""
)

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
