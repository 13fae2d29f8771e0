-- Delete one finished submission atomically: its record, every listing index entry, its
-- idempotency key and per-submission markers; queue its Vertex job for deletion at Google;
-- leave a tombstone so that a deleted id reads as "deleted", not "never existed".
--
-- KEYS[1] record hash vbq:sub:{id}; KEYS[2] Vertex deletes zset; KEYS[3] tombstone key
-- ARGV[1] id, ARGV[2] key prefix ("vbq:"), ARGV[3] tenant that must own it ("" = any),
-- ARGV[4] tombstone TTL in seconds, ARGV[5 ..] the finished states.
--
-- Returns {"ok", HGETALL before the delete} | {"missing"} | {"conflict", actual state}.

local sub = KEYS[1]
local id, prefix, tenant = ARGV[1], ARGV[2], ARGV[3]

local h = redis.call('HMGET', sub, 'state', 'tenant', 'labels', 'idempotency_key', 'project',
  'location', 'job_name')
local state, owner = h[1], h[2]
if not state or (tenant ~= '' and owner ~= tenant) then
  return {'missing'}
end
local finished = false
for i = 5, #ARGV do
  if ARGV[i] == state then
    finished = true
    break
  end
end
if not finished then
  return {'conflict', state}
end

local record = redis.call('HGETALL', sub)
redis.call('ZREM', prefix .. 'idx:all', id)
redis.call('ZREM', prefix .. 'idx:state:' .. state, id)
redis.call('ZREM', prefix .. 'idx:tenant:' .. (owner or ''), id)
if h[3] and h[3] ~= '' then
  local ok, labels = pcall(cjson.decode, h[3])
  if ok and type(labels) == 'table' then
    for k, v in pairs(labels) do
      redis.call('ZREM', prefix .. 'idx:label:' .. k .. ':' .. tostring(v), id)
    end
  end
end
if h[4] and h[4] ~= '' then
  local idem = prefix .. 'idem:' .. (owner or '') .. ':' .. h[4]
  if redis.call('GET', idem) == id then
    redis.call('DEL', idem)
  end
end
local inflight = prefix .. 'inflight:' .. (h[5] or '') .. ':' .. (h[6] or '')
redis.call('ZREM', inflight, id)
if redis.call('EXISTS', inflight) == 0 then
  redis.call('ZREM', prefix .. 'poll:locations', (h[5] or '') .. ':' .. (h[6] or ''))
end
redis.call('DEL', prefix .. 'cancel:' .. id, prefix .. 'stale:' .. id)
redis.call('ZREM', prefix .. 'finished', id)
if h[7] and h[7] ~= '' then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], 'NX', t[1] .. '.' .. string.format('%06d', tonumber(t[2])), h[7])
end
-- [console indexes] begin (docs/contracts.md § Console): what create/update.lua added.
local c = redis.call('HMGET', sub, 'model', 'display_name')
local counts, field = prefix .. 'count:tenant-state', (owner or 'default') .. ':' .. state
if redis.call('HINCRBY', counts, field, -1) <= 0 then
  redis.call('HDEL', counts, field)
end
redis.call('ZREM', prefix .. 'idx:tenant-state:' .. (owner or 'default') .. ':' .. state, id)
if c[1] and c[1] ~= '' then
  redis.call('ZREM', prefix .. 'idx:model:' .. c[1], id)
end
if c[2] and c[2] ~= '' then
  redis.call('ZREM', prefix .. 'idx:name:' .. (owner or 'default'), string.lower(c[2]) .. '\0' .. id)
end
redis.call('DEL', prefix .. 'timeline:' .. id)
-- [console indexes] end
redis.call('SET', KEYS[3], owner or '', 'EX', tonumber(ARGV[4]))
redis.call('DEL', sub)
return {'ok', record}
