-- Create one submission atomically: idempotency check, record hash, listing indexes.
--
-- KEYS[1] record hash vbq:sub:{id}; KEYS[2] (optional) idempotency key vbq:idem:{tenant}:{key}
-- ARGV[1] id, ARGV[2] spec fingerprint, ARGV[3] tenant, ARGV[4] key prefix ("vbq:"),
-- ARGV[5] n = number of label index suffixes, ARGV[6 .. 5+n] label suffixes "k:v",
-- ARGV[6+n ..] field/value pairs of the record.
--
-- Returns {"created", created_at} | {"exists", HGETALL of the existing record}
--       | {"conflict", existing id}.
-- Index keys are derived from the prefix inside the script: vbq runs on a single Redis
-- (not a cluster), where that is allowed, and it keeps the whole create in one round trip.

local sub = KEYS[1]
local idem = KEYS[2]
local id, fp, tenant, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local nlabels = tonumber(ARGV[5])

local existing = false
if idem then
  existing = redis.call('GET', idem)
end
if not existing and redis.call('EXISTS', sub) == 1 then
  existing = id
end
if existing then
  local key = prefix .. 'sub:' .. existing
  local efp = redis.call('HGET', key, 'fingerprint')
  if efp == fp then
    return {'exists', redis.call('HGETALL', key)}
  end
  if efp then
    return {'conflict', existing}
  end
  -- A dangling idempotency key (its record is gone) is rebound below.
end

local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))

local fields = {
  'id', id, 'state', 'ACCEPTED', 'fingerprint', fp, 'tenant', tenant,
  'created_at', now, 'updated_at', now, 'version', '1', 'attempts', '0',
}
for i = 6 + nlabels, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', sub, unpack(fields))
if idem then
  redis.call('SET', idem, id)
end
redis.call('ZADD', prefix .. 'idx:all', now, id)
redis.call('ZADD', prefix .. 'idx:state:ACCEPTED', now, id)
redis.call('ZADD', prefix .. 'idx:tenant:' .. tenant, now, id)
for i = 6, 5 + nlabels do
  redis.call('ZADD', prefix .. 'idx:label:' .. ARGV[i], now, id)
end

-- [console indexes] begin (docs/contracts.md § Console): per-tenant-and-state counts and
-- index, the model index, the display-name prefix index and the first timeline entry.
local model, dname = '', ''
for i = 6 + nlabels, #ARGV - 1, 2 do
  if ARGV[i] == 'model' then
    model = ARGV[i + 1]
  elseif ARGV[i] == 'display_name' then
    dname = ARGV[i + 1]
  end
end
redis.call('HINCRBY', prefix .. 'count:tenant-state', tenant .. ':ACCEPTED', 1)
redis.call('ZADD', prefix .. 'idx:tenant-state:' .. tenant .. ':ACCEPTED', now, id)
if model ~= '' then
  redis.call('ZADD', prefix .. 'idx:model:' .. model, now, id)
  redis.call('SADD', prefix .. 'idx:models', model)
end
if dname ~= '' then
  -- string.lower folds ASCII only; vbq.store.query folds the search text the same way.
  redis.call('ZADD', prefix .. 'idx:name:' .. tenant, 0, string.lower(dname) .. '\0' .. id)
end
redis.call('RPUSH', prefix .. 'timeline:' .. id, now .. '|state||ACCEPTED|')
-- [console indexes] end
return {'created', now}
