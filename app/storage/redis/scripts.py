"""The Lua scripts of the Redis store: each one is a whole atomic write on one shard.

A script runs to completion with nothing else interleaved, and with AOF its effects are
logged as one MULTI/EXEC, so a write and its audit record are stored together or not at
all. Every audited script has the same head:

    KEYS[1] the chain list, KEYS[2] the shard's chain registry (set)
    ARGV[1] the chain length the caller hashed against, ARGV[2] the chain name,
    ARGV[3] the record, ARGV[4] a verification-index bucket or '', ARGV[5] the
    subject's field in it (`keys.subject_token`: it says its own length) followed by
    the entry for the record (`audit.pointer`)

A chain's name goes into the registry with its first record (a set: once is enough),
and a verification index is trimmed only once it outgrows its cap: every `redis.call`
from Lua costs redis-server a few µs, and a check runs on every online verification.
An index is one hash field per subject, its entries packed newest first, each one
byte of length and that many bytes (so the script can count them without decoding).

The caller computes the SHA-256 chain hash (Redis Lua has no SHA-256) against the head it
believes in; the script refuses with {'C'} when the chain moved meanwhile (a write whose
reply was lost), and the caller re-reads the head and tries again. Checks that refuse
come first: a refused script writes nothing.

Keys not in KEYS (computed from a prefix) are always in the same hash tag, hence the same
slot, as KEYS[1].
"""

from __future__ import annotations

__all__ = [
    "ADD_CLIENT",
    "APPEND",
    "CHECK",
    "CLAIM_CODE",
    "HEAD",
    "REVOKE_CLIENT",
    "SAVE_ENTITLEMENT",
    "SAVE_PROOF",
    "SAVE_PROOF_WITH_CODE",
    "SET_STATUS",
    "VERIF_CAP",
]

#: entries kept per subject in the verification index (GET /v1/me/verifications)
VERIF_CAP = 1000
#: an index value longer than this may hold more than VERIF_CAP entries (each takes at
#: least 4 bytes): only then are they counted
_TRIM_AT = 4 * VERIF_CAP

INDEX_FN = f"""
local function index(ikey, both)
  if ikey == '' then return end
  local cut = 33
  if string.byte(both, 1) ~= 0 then cut = 3 + 256 * string.byte(both, 2) + string.byte(both, 3) end
  local ifield, ival = string.sub(both, 1, cut), string.sub(both, cut + 1)
  local old = redis.call('HGET', ikey, ifield)
  if old then
    ival = ival .. old
    if #ival > {_TRIM_AT} then
      local at = 1
      for _ = 1, {VERIF_CAP} do
        if at > #ival then break end
        at = at + 1 + string.byte(ival, at)
      end
      ival = string.sub(ival, 1, at - 1)
    end
  end
  redis.call('HSET', ikey, ifield, ival)
end
"""

#: the shared head of the audited scripts
HEAD = f"""
local function chain_moved()
  local len = redis.call('LLEN', KEYS[1])
  if len == tonumber(ARGV[1]) then return false end
  -- records archived from the chain's start are not in the list any more
  local done = redis.call('HGET', string.gsub(KEYS[2], 'chains$', 'archived'), ARGV[2])
  return not done or len + tonumber(string.match(done, '^%d+')) ~= tonumber(ARGV[1])
end
{INDEX_FN}local function register()
  -- a chain's name goes into the shard's registry with its first record
  if ARGV[1] == '0' then redis.call('SADD', KEYS[2], ARGV[2]) end
end
local function audit()
  redis.call('RPUSH', KEYS[1], ARGV[3])
  register()
  index(ARGV[4], ARGV[5])
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
audit()
return {'O'}
"""
)

# sets the status of (n, idx), marking it allocated (and its list existing) if it was not:
# a ref restored from elsewhere must never be handed out again; the version of an
# entitlement ('' = none) from its value; and the status triples and cards of a write,
# from ARGV[i] (their counts first), returning where the next argument is
SET_STATUS = """
local function version(key, field)
  return string.match(redis.call('HGET', key, field) or '', '^%d+') or ''
end
local function set_status(lists, prefix, n, idx, status)
  if redis.call('SETBIT', prefix .. 'alloc:' .. n, idx, 1) == 0 then
    redis.call('HINCRBY', lists, 'a' .. n, 1)
    local count = tonumber(redis.call('HGET', lists, 'count') or '0')
    if n >= count then redis.call('HSET', lists, 'count', n + 1) end
  end
  redis.call('BITFIELD', prefix .. 'bits:' .. n, 'SET', 'u2', '#' .. idx, status)
end
local function statuses_and_cards(lists, prefix, i)
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    set_status(lists, prefix, tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))
    i = i + 3
  end
  n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('SET', prefix .. 'card:' .. ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  return i
end
"""

#: save_entitlement. KEYS[3] the holder's bucket, KEYS[4] lists hash. ARGV[6] shard
#: prefix, ARGV[7] field, ARGV[8] expected version ('' = must not exist), ARGV[9] the
#: value ("<version> <record>"), ARGV[10] number of status triples, then
#: (n, idx, status)..., then the number of cards and (number, record)...
SAVE_ENTITLEMENT = (
    HEAD
    + SET_STATUS
    + """
local stored = version(KEYS[3], ARGV[7])
if stored ~= ARGV[8] then return {'V', stored} end
if chain_moved() then return {'C'} end
redis.call('HSET', KEYS[3], ARGV[7], ARGV[9])
statuses_and_cards(KEYS[4], ARGV[6], 10)
audit()
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

# the proof (KEYS[3]) and its audit record; the entitlement it was made from (KEYS[4]
# the holder's bucket, ARGV[9] the field, '' when the caller gives no basis, ARGV[10]
# its stored value): {'E', the stored value or false} when that is not the stored one
_SAVE_PROOF_FN = """
local function basis_moved()
  if ARGV[9] == '' then return false end
  local held = redis.call('HGET', KEYS[4], ARGV[9])
  if held == ARGV[10] then return false end
  return {'E', held}
end
local function save_proof()
  redis.call('HSET', KEYS[3], 's', ARGV[6], 'd', ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[8])
  audit()
  return {'O'}
end
"""

#: save_proof on the shard. KEYS[3] proof hash, KEYS[4] the holder's entitlement bucket;
#: ARGV[6] subject, ARGV[7] record, ARGV[8] TTL (ms), ARGV[9..10] the basis (above).
SAVE_PROOF = (
    HEAD
    + _SAVE_PROOF_FN
    + """
local moved = basis_moved()
if moved then return moved end
if chain_moved() then return {'C'} end
return save_proof()
"""
)

#: save_proof with its code on a single node, where every key is on the one server: the
#: code claim (as CLAIM_CODE) and the proof (as SAVE_PROOF) in one atomic write, one
#: durable round trip instead of two. KEYS[3..4] and ARGV[6..10] as SAVE_PROOF, KEYS[5]
#: code key, ARGV[11] now less the hold (µs), ARGV[12] the code's value, ARGV[13] its
#: TTL (ms). {'X'} when another proof holds the code (nothing written).
SAVE_PROOF_WITH_CODE = (
    HEAD
    + _SAVE_PROOF_FN
    + """
local held = redis.call('GET', KEYS[5])
if held and tonumber(string.match(held, '^(%d+)')) > tonumber(ARGV[11]) then return {'X'} end
local moved = basis_moved()
if moved then return moved end
if chain_moved() then return {'C'} end
redis.call('SET', KEYS[5], ARGV[12], 'PX', ARGV[13])
return save_proof()
"""
)

#: check_and_record. KEYS[3] alloc bitmap, KEYS[4] status bits, KEYS[5] proof hash
#: (fields s, d of `save_proof`; the checks of the jti add n = the count and
#: o<org> = its last check µs, one key per jti instead of three).
#: ARGV[3..5] the audit record for the status the caller expects, ARGV[6] idx (-1: not
#: one of ours), ARGV[7] '1' to count the check (a jti was given), ARGV[8] '1' if the
#: subject must come from the proof registry, ARGV[9] the subject the record was built
#: with ('' = none), ARGV[10] the caller's subject ('' = none), ARGV[11] org, ARGV[12] now
#: µs, ARGV[13] window start µs, ARGV[14] TTL (ms) the checks are kept at least,
#: ARGV[15] the status the record was built for.
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
audit()
if ARGV[7] ~= '1' then return {'O', status} end
local count = redis.call('HINCRBY', KEYS[5], 'n', 1) - 1
local orgs, since, mine = 0, tonumber(ARGV[13]), 'o' .. ARGV[11]
local fields = redis.call('HGETALL', KEYS[5])
local last = 0
for f = 1, #fields, 2 do
  local name = fields[f]
  if string.byte(name, 1) == 111 then  -- 'o'
    local at = tonumber(fields[f + 1])
    if at >= since then orgs = orgs + 1 end
    if name == mine then last = at end
  end
end
if tonumber(ARGV[12]) > last then redis.call('HSET', KEYS[5], mine, ARGV[12]) end
if redis.call('PTTL', KEYS[5]) < tonumber(ARGV[14]) then
  redis.call('PEXPIRE', KEYS[5], ARGV[14])
end
return {'O', status, count, orgs}
"""
)

#: both client writes end alike: the chain still ours, the record ARGV[8] stored under
#: its id ARGV[6] in KEYS[3], `also` done, the audit record appended
_CLIENT_WRITE = (
    HEAD
    + """
local function write_client(also)
  if chain_moved() then return {'C'} end
  redis.call('HSET', KEYS[3], ARGV[6], ARGV[8])
  if also then also() end
  audit()
  return {'O'}
end
"""
)

#: add_client. KEYS[3] clients hash, KEYS[4] key-hash index; ARGV[6] id, ARGV[7] key
#: hash, ARGV[8] record. {'V'} if the id or the key hash is taken.
ADD_CLIENT = (
    _CLIENT_WRITE
    + """
if redis.call('HEXISTS', KEYS[3], ARGV[6]) == 1 or redis.call('HEXISTS', KEYS[4], ARGV[7]) == 1
then return {'V'} end
return write_client(function() redis.call('HSET', KEYS[4], ARGV[7], ARGV[6]) end)
"""
)

#: revoke_client as compare-and-set: KEYS[3] clients hash; ARGV[6] id, ARGV[7] the
#: record read before, ARGV[8] the revoked record. {'V'} if it changed meanwhile.
REVOKE_CLIENT = (
    _CLIENT_WRITE
    + """
if redis.call('HGET', KEYS[3], ARGV[6]) ~= ARGV[7] then return {'V'} end
return write_client(nil)
"""
)
