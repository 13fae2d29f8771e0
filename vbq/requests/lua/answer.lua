-- Answer many requests of one pack: each at most once (compare-and-set on PENDING + pack).
--
-- ARGV[1] key prefix, ARGV[2] pack id, ARGV[3] TTL of an answered record in seconds,
-- ARGV[4] "1" when request events follow, then one value per request: its tab-separated
-- id, state (SUCCEEDED|FAILED), file index, byte offset, length, usage ("p,c,th,ca,t") and
-- error ("" for none; JSON, so never a raw tab); with events, each followed by the request
-- event JSON for the outbox.
--
-- Returns {answered now, answered before (same pack), not in this pack}.
-- Keys are derived from the prefix: vbq runs on a single Redis (not a cluster).

local prefix, pid, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local with_events = ARGV[4] == '1'
local step = with_events and 2 or 1
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local counts = prefix .. 'requests:counts'
local new, before, foreign = 0, 0, 0
local added = {SUCCEEDED = 0, FAILED = 0}
for i = 5, #ARGV, step do
  local v = {}
  local start = 1
  for _ = 1, 6 do
    local tab = string.find(ARGV[i], '\t', start, true)
    v[#v + 1] = string.sub(ARGV[i], start, tab - 1)
    start = tab + 1
  end
  local err = string.sub(ARGV[i], start)
  local key = prefix .. 'req:' .. v[1]
  local cur = redis.call('HMGET', key, 'state', 'pack')
  if cur[2] ~= pid then
    foreign = foreign + 1
  elseif cur[1] ~= 'PENDING' then
    before = before + 1
  else
    local state = v[2]
    redis.call('HSET', key, 'state', state, 'file', v[3], 'offset', v[4], 'length', v[5],
      'usage', v[6], 'finished_at', now)
    if err ~= '' then
      redis.call('HSET', key, 'error', err)
    end
    redis.call('EXPIRE', key, ttl)
    added[state] = added[state] + 1
    if with_events and ARGV[i + 1] ~= '' then
      redis.call('XADD', prefix .. 'outbox', '*', 'event', ARGV[i + 1])
      redis.call('INCR', prefix .. 'outbox:added')
    end
    new = new + 1
  end
end
if new > 0 then
  redis.call('HINCRBY', counts, 'PENDING', -new)
  for state, n in pairs(added) do
    if n > 0 then
      redis.call('HINCRBY', counts, state, n)
    end
  end
end
return {new, before, foreign}
