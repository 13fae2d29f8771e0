-- Seal an open pack (its age passed VBQ_PACK_MAX_WAIT_S, or a flush was forced).
--
-- KEYS[1] pack hash vbq:pack:{id}
-- ARGV[1] pack id, ARGV[2] key prefix, ARGV[3] reason ("age", "forced"),
-- ARGV[4] oldest created_at that may be sealed ("" = any)
--
-- Returns the pack's state after the call ("" when there is no such pack). After this no
-- request can join the pack: its assignment is final, so a flush writes a fixed set of lines.

local pack = KEYS[1]
local pid, prefix = ARGV[1], ARGV[2]
local state = redis.call('HGET', pack, 'state')
if not state then
  return ''
end
if state ~= 'OPEN' then
  return state
end
if ARGV[4] ~= '' and tonumber(redis.call('HGET', pack, 'created_at')) > tonumber(ARGV[4]) then
  return state
end
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('HSET', pack, 'state', 'SEALED', 'sealed_at', now, 'reason', ARGV[3])
local open_key = prefix .. 'pack-open:' .. redis.call('HGET', pack, 'group')
if redis.call('GET', open_key) == pid then
  redis.call('DEL', open_key)
end
redis.call('ZREM', prefix .. 'packs:open', pid)
redis.call('ZADD', prefix .. 'packs:sealed', now, pid)
return 'SEALED'
