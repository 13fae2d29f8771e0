-- Add one request atomically: idempotency check, pack assignment, record, counters.
--
-- KEYS[1] request hash vbq:req:{id}
-- ARGV[1] id, ARGV[2] fingerprint, ARGV[3] key prefix ("vbq:"), ARGV[4] pack group,
-- ARGV[5] a fresh pack id (used when the group has no open pack), ARGV[6] the JSONL line,
-- ARGV[7] its size in bytes (newline included), ARGV[8] max rows, ARGV[9] max bytes,
-- ARGV[10] project, ARGV[11] location, ARGV[12] model, ARGV[13] pack tenant ("" = shared),
-- ARGV[14 ..] field/value pairs of the request record.
--
-- Returns {"created", now, pack id, pack sealed before this request or "", pack sealed by it
-- or ""} | {"exists", HGETALL} | {"conflict"}.
-- A request is assigned to exactly one pack here, once; a pack that would overflow is sealed
-- first, a pack that this request fills is sealed at once (the caller triggers its flush).

local req = KEYS[1]
local id, fp, prefix, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local efp = redis.call('HGET', req, 'fingerprint')
if efp then
  if efp == fp then
    return {'exists', redis.call('HGETALL', req)}
  end
  return {'conflict'}
end

local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local size = tonumber(ARGV[7])
local max_rows, max_bytes = tonumber(ARGV[8]), tonumber(ARGV[9])
local open_key = prefix .. 'pack-open:' .. group

local function seal(pid, reason)
  redis.call('HSET', prefix .. 'pack:' .. pid, 'state', 'SEALED', 'sealed_at', now, 'reason', reason)
  if redis.call('GET', open_key) == pid then
    redis.call('DEL', open_key)
  end
  redis.call('ZREM', prefix .. 'packs:open', pid)
  redis.call('ZADD', prefix .. 'packs:sealed', now, pid)
end

local sealed_before = ''
local pid = redis.call('GET', open_key)
if pid then
  local cur = redis.call('HMGET', prefix .. 'pack:' .. pid, 'rows', 'bytes')
  if tonumber(cur[1]) + 1 > max_rows or tonumber(cur[2]) + size > max_bytes then
    seal(pid, 'full')
    sealed_before = pid
    pid = false
  end
end
if not pid then
  pid = ARGV[5]
  redis.call('HSET', prefix .. 'pack:' .. pid, 'id', pid, 'state', 'OPEN', 'group', group,
    'project', ARGV[10], 'location', ARGV[11], 'model', ARGV[12], 'tenant', ARGV[13],
    'rows', 0, 'bytes', 0, 'created_at', now)
  redis.call('SET', open_key, pid)
  redis.call('ZADD', prefix .. 'packs:open', now, pid)
end

local pack = prefix .. 'pack:' .. pid
redis.call('RPUSH', pack .. ':lines', ARGV[6])
redis.call('RPUSH', pack .. ':ids', id)
local rows = redis.call('HINCRBY', pack, 'rows', 1)
local bytes = redis.call('HINCRBY', pack, 'bytes', size)

local fields = {'id', id, 'state', 'PENDING', 'fingerprint', fp, 'pack', pid, 'created_at', now}
for i = 14, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', req, unpack(fields))
redis.call('HINCRBY', prefix .. 'requests:counts', 'PENDING', 1)

local sealed_now = ''
if rows >= max_rows or bytes >= max_bytes then
  seal(pid, 'full')
  sealed_now = pid
end
return {'created', now, pid, sealed_before, sealed_now}
