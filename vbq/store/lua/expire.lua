-- Expire a batch of finished submissions past the retention window, atomically: every key a
-- submission owns (docs/contracts.md § Job store, § Retention and archive) leaves Redis, an
-- archive index entry is written in its place, and the archiver's pending batch is cleared.
--
-- KEYS[1] retention lease; KEYS[2] finished zset vbq:finished; KEYS[3] pending batch key
-- ARGV[1] lease value we hold, ARGV[2] key prefix ("vbq:"), ARGV[3] score to give an id
-- whose finished event is still owed (retried later), ARGV[4 ..] per id, 4 values:
-- id, archive index hash key, index value, index key expiry (epoch s, EXPIREAT); the index value
-- "~retry" marks an id the archiver did not write in this batch: it is kept, never expired.
--
-- Returns -1 when the lease is lost (nothing done), else a list of per-id statuses:
-- "expired" | "gone" (no record: deleted meanwhile) | "owed" (results pending: kept)
-- | "unfinished" (not finished: only removed from the finished zset).

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local finished_zset, prefix = KEYS[2], ARGV[2]
local owed_score = ARGV[3]
local finished_states = {
  SUCCEEDED = true, PARTIALLY_SUCCEEDED = true, FAILED = true, CANCELLED = true,
  EXPIRED = true, REJECTED = true,
}
local out = {}

local function expire_one(id, index_key, index_value, index_expire_at)
  local sub = prefix .. 'sub:' .. id
  local h = redis.call('HMGET', sub, 'state', 'tenant', 'labels', 'idempotency_key', 'project',
    'location', 'model', 'display_name')
  local state, owner = h[1], h[2]
  if not state then
    redis.call('ZREM', finished_zset, id)
    return 'gone'
  end
  if not finished_states[state] then
    redis.call('ZREM', finished_zset, id)
    return 'unfinished'
  end
  -- Owed now, or not archived by this batch (owed or unfinished when the batch was loaded,
  -- index value "~retry"): kept, and tried again later, so nothing leaves unarchived.
  if index_value == '~retry' or redis.call('HEXISTS', prefix .. 'results:owed', id) == 1 then
    redis.call('ZADD', finished_zset, 'XX', owed_score, id)
    return 'owed'
  end
  owner = owner or 'default'
  -- listing indexes
  redis.call('ZREM', prefix .. 'idx:all', id)
  redis.call('ZREM', prefix .. 'idx:state:' .. state, id)
  redis.call('ZREM', prefix .. 'idx:tenant:' .. owner, id)
  if h[3] and h[3] ~= '' then
    local ok, labels = pcall(cjson.decode, h[3])
    if ok and type(labels) == 'table' then
      for k, v in pairs(labels) do
        redis.call('ZREM', prefix .. 'idx:label:' .. k .. ':' .. tostring(v), id)
      end
    end
  end
  -- idempotency key (only while it still names this submission)
  if h[4] and h[4] ~= '' then
    local idem = prefix .. 'idem:' .. owner .. ':' .. h[4]
    if redis.call('GET', idem) == id then
      redis.call('DEL', idem)
    end
  end
  -- work lists and per-submission markers
  local inflight = prefix .. 'inflight:' .. (h[5] or '') .. ':' .. (h[6] or '')
  redis.call('ZREM', inflight, id)
  if redis.call('EXISTS', inflight) == 0 then
    redis.call('ZREM', prefix .. 'poll:locations', (h[5] or '') .. ':' .. (h[6] or ''))
  end
  redis.call('ZREM', prefix .. 'submit:due', id)
  redis.call('ZREM', prefix .. 'results:due', id)
  redis.call('DEL', prefix .. 'cancel:' .. id, prefix .. 'stale:' .. id,
    prefix .. 'submit:unsent:' .. id, prefix .. 'lock:submit:' .. id,
    prefix .. 'lock:results:' .. id, prefix .. 'lock:split:' .. id,
    prefix .. 'split:' .. id, prefix .. 'split:cancelled:' .. id)
  -- console indexes (what create/update.lua added)
  local counts, field = prefix .. 'count:tenant-state', owner .. ':' .. state
  if redis.call('HINCRBY', counts, field, -1) <= 0 then
    redis.call('HDEL', counts, field)
  end
  redis.call('ZREM', prefix .. 'idx:tenant-state:' .. owner .. ':' .. state, id)
  if h[7] and h[7] ~= '' then
    redis.call('ZREM', prefix .. 'idx:model:' .. h[7], id)
  end
  if h[8] and h[8] ~= '' then
    redis.call('ZREM', prefix .. 'idx:name:' .. owner, string.lower(h[8]) .. '\0' .. id)
  end
  -- subscriber inbox marks: the timeline names every group that handled an event of it
  local timeline = prefix .. 'timeline:' .. id
  for _, entry in ipairs(redis.call('LRANGE', timeline, 0, -1)) do
    local group, event_state = string.match(entry, '^[^|]*|handled|([^|]*)|([^|]*)|')
    if group and group ~= '' then
      local mark = prefix .. 'inbox:' .. group .. ':' .. id .. ':' .. event_state
      redis.call('DEL', mark, mark .. ':handlers')
    end
  end
  redis.call('DEL', timeline, sub)
  redis.call('ZREM', finished_zset, id)
  -- where the archive has it (or that it expired unarchived)
  redis.call('HSET', index_key, id, index_value)
  redis.call('EXPIREAT', index_key, index_expire_at)
  return 'expired'
end

for i = 4, #ARGV, 4 do
  out[#out + 1] = expire_one(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
redis.call('DEL', KEYS[3])
return out
