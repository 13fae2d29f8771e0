-- Delete one finished submission atomically: its record, every listing index entry, its
-- idempotency key and per-submission markers; queue its Vertex job for deletion at Google;
-- leave a tombstone so that a deleted id reads as "deleted", not "never existed".
--
-- KEYS[1] record hash vbq:sub:{id}; KEYS[2] Vertex deletes zset; KEYS[3] tombstone key
-- ARGV[1] id, ARGV[2] key prefix ("vbq:"), ARGV[3] tenant that must own it ("" = any),
-- ARGV[4] tombstone TTL in seconds, ARGV[5 ..] the finished states.
--
-- Returns {"ok", HGETALL before the delete} | {"missing"} | {"conflict", actual state}.

-- @include forget.lua

local sub = KEYS[1]
local id, prefix, tenant = ARGV[1], ARGV[2], ARGV[3]

local f = redis.call('HMGET', sub, unpack(FORGET_FIELDS))
local job_name = redis.call('HGET', sub, 'job_name')
local state, owner = f[1], f[2]
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
forget_submission(prefix, id, f, false)
if job_name and job_name ~= '' then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[2], 'NX', t[1] .. '.' .. string.format('%06d', tonumber(t[2])), job_name)
end
redis.call('SET', KEYS[3], owner or '', 'EX', tonumber(ARGV[4]))
redis.call('DEL', sub)
return {'ok', record}
