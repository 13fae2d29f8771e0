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

-- @include forget.lua

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
  local f = redis.call('HMGET', sub, unpack(FORGET_FIELDS))
  local state = f[1]
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
  forget_submission(prefix, id, f, true)
  redis.call('DEL', sub)
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
