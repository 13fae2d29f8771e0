-- Publish a job's deferred finished event with its results, exactly once.
--
-- KEYS[1] record hash vbq:sub:{id}; KEYS[2] owed events hash vbq:results:owed;
-- KEYS[3] outbox stream vbq:outbox
-- ARGV[1] id, ARGV[2] key prefix, ARGV[3] the owed event JSON as read (compare-and-delete),
-- ARGV[4] results JSON (stored in the record's `results` field), ARGV[5] event JSON to append,
-- ARGV[6 ..] usage increments: kind, name, field, n (vbq:usage:{kind}:{name}).
--
-- Returns 1 when published now, 0 when the owed event was already published (or replaced).

local sub, owed, outbox = KEYS[1], KEYS[2], KEYS[3]
local id, prefix = ARGV[1], ARGV[2]
if redis.call('HGET', owed, id) ~= ARGV[3] then
  return 0
end
redis.call('HSET', sub, 'results', ARGV[4])
for i = 6, #ARGV, 4 do
  local kind, name = ARGV[i], ARGV[i + 1]
  redis.call('HINCRBY', prefix .. 'usage:' .. kind .. ':' .. name, ARGV[i + 2], ARGV[i + 3])
  redis.call('SADD', prefix .. 'usage:' .. kind .. 's', name)
end
redis.call('XADD', outbox, '*', 'event', ARGV[5])
redis.call('INCR', outbox .. ':added')
redis.call('HDEL', owed, id)
redis.call('ZREM', prefix .. 'results:due', id)
return 1
