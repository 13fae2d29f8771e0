-- Change one submission atomically: compare-and-set on its state, field updates, version and
-- updated_at, state-index move, in-flight index (and its location in vbq:poll:locations),
-- finished_at, and the outbox event.
--
-- KEYS[1] record hash vbq:sub:{id}; KEYS[2] outbox stream vbq:outbox
-- ARGV[1] id, ARGV[2] key prefix ("vbq:"), ARGV[3] new state ("" keeps the state),
-- ARGV[4] "1" when the new state is in flight at Vertex (SUBMITTED and later, unfinished),
-- ARGV[5] "1" when the new state is finished, ARGV[6] event JSON ("" for none),
-- ARGV[7] "1" to add one to attempts, ARGV[8] n = number of expected states (0 = any),
-- ARGV[9 .. 8+n] expected states, ARGV[9+n ..] field/value pairs to set ("@field": expected value).
--
-- Returns {"ok", HGETALL} | {"missing"} | {"conflict", actual state}.

local sub = KEYS[1]
local id, prefix, new = ARGV[1], ARGV[2], ARGV[3]
local nexp = tonumber(ARGV[8])

local cur = redis.call('HGET', sub, 'state')
if not cur then
  return {'missing'}
end
if nexp > 0 then
  local ok = false
  for i = 9, 8 + nexp do
    if ARGV[i] == cur then
      ok = true
      break
    end
  end
  if not ok then
    return {'conflict', cur}
  end
end

local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))

-- A pair named "@field" is a compare, not a write: the field must hold that value (placement:
-- an attempt that loaded the record at one place must not count a create after another place
-- claimed it). On mismatch: conflict, nothing written.
local pairs_ = {}
for i = 9 + nexp, #ARGV, 2 do
  if string.sub(ARGV[i], 1, 1) == '@' then
    if (redis.call('HGET', sub, string.sub(ARGV[i], 2)) or '') ~= ARGV[i + 1] then
      return {'conflict', cur}
    end
  else
    pairs_[#pairs_ + 1] = ARGV[i]
    pairs_[#pairs_ + 1] = ARGV[i + 1]
  end
end
if #pairs_ > 0 then
  redis.call('HSET', sub, unpack(pairs_))
end
if ARGV[7] == '1' then
  redis.call('HINCRBY', sub, 'attempts', 1)
end
redis.call('HINCRBY', sub, 'version', 1)
redis.call('HSET', sub, 'updated_at', now)

if new ~= '' and new ~= cur then
  local created = redis.call('HGET', sub, 'created_at')
  local q = redis.call('HMGET', sub, 'project', 'location', 'tenant', 'priority', 'locations',
    'qseq', 'placement_avoid')
  local tail = ':' .. (q[3] or 'default') .. ':' .. (q[4] or 'default')
  if cur == 'ACCEPTED' then
    -- Leaves its scheduler queues (cancelled, or a submit attempt began): docs § Scheduler;
    -- with several acceptable locations, the queue of each (docs § Placement).
    redis.call('ZREM', prefix .. 'sched:queue:' .. (q[1] or '') .. ':' .. (q[2] or '') .. tail, id)
    for loc in string.gmatch(q[5] or '', '[^,]+') do
      redis.call('ZREM', prefix .. 'sched:queue:' .. (q[1] or '') .. ':' .. loc .. tail, id)
    end
  elseif new == 'ACCEPTED' and q[5] then
    -- Placed again (a create its place refused, surely unsent): back in the queues of its
    -- acceptable locations but the refusing one (all of them when it is the only one), at
    -- its first arrival number (docs/contracts.md § Placement). Its due mark goes in the
    -- same call: the claim that places it again writes a fresh one.
    redis.call('ZREM', prefix .. 'submit:due', id)
    local n = 0
    for loc in string.gmatch(q[5], '[^,]+') do n = n + 1 end
    for loc in string.gmatch(q[5], '[^,]+') do
      if loc ~= q[7] or n == 1 then
        local place = (q[1] or '') .. ':' .. loc
        redis.call('ZADD', prefix .. 'sched:queue:' .. place .. tail, tonumber(q[6] or '0'), id)
        local active = prefix .. 'sched:active:' .. place
        if not redis.call('ZSCORE', active, q[3] or 'default') then
          local clock = tonumber(redis.call('GET', prefix .. 'sched:clock:' .. place) or '0')
          local last = tonumber(
            redis.call('HGET', prefix .. 'sched:tags:' .. place, q[3] or 'default') or '0')
          redis.call('ZADD', active, math.max(clock, last), q[3] or 'default')
          redis.call('SADD', prefix .. 'sched:places', (q[1] or '') .. '|' .. loc)
        end
      end
    end
  end
  redis.call('ZREM', prefix .. 'idx:state:' .. cur, id)
  redis.call('ZADD', prefix .. 'idx:state:' .. new, created, id)
  redis.call('HSET', sub, 'state', new)
end

local loc = redis.call('HMGET', sub, 'project', 'location', 'job_name', 'submitted_at', 'finished_at')
local inflight = prefix .. 'inflight:' .. (loc[1] or '') .. ':' .. (loc[2] or '')
if ARGV[4] == '1' then
  local submitted = loc[4]
  if not submitted or submitted == '' then
    submitted = now
    redis.call('HSET', sub, 'submitted_at', now)
  end
  if loc[3] and loc[3] ~= '' then
    redis.call('ZADD', inflight, submitted, id)
    -- The poller's list of locations with in-flight jobs (no SCAN of vbq:inflight:*),
    -- score = newest submitted_at there (GT never lowers it; a new member is added).
    redis.call('ZADD', prefix .. 'poll:locations', 'GT', submitted, (loc[1] or '') .. ':' .. (loc[2] or ''))
  end
end
if ARGV[5] == '1' then
  redis.call('ZREM', inflight, id)
  if redis.call('EXISTS', inflight) == 0 then
    redis.call('ZREM', prefix .. 'poll:locations', (loc[1] or '') .. ':' .. (loc[2] or ''))
  end
  local finished_at = loc[5]
  if not finished_at or finished_at == '' then
    finished_at = now
    redis.call('HSET', sub, 'finished_at', now)
  end
  -- The retention task's work list (docs/contracts.md § Retention and archive).
  redis.call('ZADD', prefix .. 'finished', 'NX', finished_at, id)
end
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[2], '*', 'event', ARGV[6])
  -- Every event ever recorded (the stream's own entries-added needs Redis 7).
  redis.call('INCR', KEYS[2] .. ':added')
end

-- [console indexes] begin (docs/contracts.md § Console): per-tenant-and-state counts and
-- index, the timeline, and jobs created per 10-s window (the first in-flight state).
local etype = ''
if ARGV[6] ~= '' then
  -- JobEvent JSON has "type" before any nested object, so the first match is the event's.
  etype = string.match(ARGV[6], '"type":"([^"]*)"') or ''
end
local timeline = prefix .. 'timeline:' .. id
if new ~= '' and new ~= cur then
  local owner = redis.call('HGET', sub, 'tenant') or 'default'
  local counts = prefix .. 'count:tenant-state'
  if redis.call('HINCRBY', counts, owner .. ':' .. cur, -1) <= 0 then
    redis.call('HDEL', counts, owner .. ':' .. cur)
  end
  redis.call('HINCRBY', counts, owner .. ':' .. new, 1)
  local created_at = redis.call('HGET', sub, 'created_at')
  redis.call('ZREM', prefix .. 'idx:tenant-state:' .. owner .. ':' .. cur, id)
  redis.call('ZADD', prefix .. 'idx:tenant-state:' .. owner .. ':' .. new, created_at, id)
  redis.call('RPUSH', timeline, now .. '|state|' .. cur .. '|' .. new .. '|' .. etype)
  if ARGV[4] == '1' and (not loc[4] or loc[4] == '') then
    local window = prefix .. 'stats:w:creates:' .. math.floor(tonumber(t[1]) / 10)
    redis.call('HINCRBY', window, owner, 1)
    redis.call('EXPIRE', window, 3600)
    redis.call('HINCRBY', prefix .. 'stats:counters', 'creates', 1)
  end
elseif etype ~= '' then
  redis.call('RPUSH', timeline, now .. '|event||' .. (new ~= '' and new or cur) .. '|' .. etype)
end
-- [console indexes] end
return {'ok', redis.call('HGETALL', sub)}
