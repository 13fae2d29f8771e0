-- Close a pack whose every request is answered: state DONE, output files, drop its id list.
--
-- KEYS[1] pack hash vbq:pack:{id}
-- ARGV[1] pack id, ARGV[2] key prefix, ARGV[3] output files (JSON list), ARGV[4] TTL in s
--
-- Returns the previous state.

local pack = KEYS[1]
local pid, prefix = ARGV[1], ARGV[2]
local state = redis.call('HGET', pack, 'state')
if not state then
  return ''
end
redis.call('HSET', pack, 'state', 'DONE', 'files', ARGV[3])
redis.call('ZREM', prefix .. 'packs:flushed', pid)
redis.call('DEL', pack .. ':ids', pack .. ':lines')
redis.call('EXPIRE', pack, tonumber(ARGV[4]))
return state
