-- Answer many requests of one pack: each at most once (compare-and-set on PENDING + pack).
--
-- ARGV[1] key prefix, ARGV[2] pack id, ARGV[3] TTL of an answered record in seconds,
-- then 7 values per request: id, state (SUCCEEDED|FAILED), file index, byte offset, length,
-- usage ("p,c,th,ca,t"), error ("" for none), and when ARGV[4] = "1" an 8th: the
-- request event JSON for the outbox.
--
-- Returns {answered now, answered before (same pack), not in this pack}.
-- Keys are derived from the prefix: vbq runs on a single Redis (not a cluster).

local prefix, pid, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local with_events = ARGV[4] == '1'
local width = with_events and 8 or 7
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local counts = prefix .. 'requests:counts'
local new, before, foreign = 0, 0, 0
for i = 5, #ARGV, width do
  local key = prefix .. 'req:' .. ARGV[i]
  local cur = redis.call('HMGET', key, 'state', 'pack')
  if cur[2] ~= pid then
    foreign = foreign + 1
  elseif cur[1] ~= 'PENDING' then
    before = before + 1
  else
    local state = ARGV[i + 1]
    redis.call('HSET', key, 'state', state, 'file', ARGV[i + 2], 'offset', ARGV[i + 3],
      'length', ARGV[i + 4], 'usage', ARGV[i + 5], 'finished_at', now)
    if ARGV[i + 6] ~= '' then
      redis.call('HSET', key, 'error', ARGV[i + 6])
    end
    redis.call('EXPIRE', key, ttl)
    redis.call('HINCRBY', counts, 'PENDING', -1)
    redis.call('HINCRBY', counts, state, 1)
    if with_events and ARGV[i + 7] ~= '' then
      redis.call('XADD', prefix .. 'outbox', '*', 'event', ARGV[i + 7])
      redis.call('INCR', prefix .. 'outbox:added')
    end
    new = new + 1
  end
end
return {new, before, foreign}
