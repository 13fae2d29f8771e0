-- Record that a sealed pack became a submission; drop its lines (they are in Cloud Storage).
--
-- KEYS[1] pack hash vbq:pack:{id}
-- ARGV[1] pack id, ARGV[2] key prefix, ARGV[3] submission id, ARGV[4] input uri
--
-- Returns the pack's state after the call.

local pack = KEYS[1]
local pid, prefix = ARGV[1], ARGV[2]
local state = redis.call('HGET', pack, 'state')
if state ~= 'SEALED' then
  return state or ''
end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', pack, 'state', 'FLUSHED', 'submission_id', ARGV[3], 'input_uri', ARGV[4],
  'flushed_at', now)
redis.call('ZREM', prefix .. 'packs:sealed', pid)
redis.call('ZADD', prefix .. 'packs:flushed', now, pid)
redis.call('DEL', pack .. ':lines')
return 'FLUSHED'
