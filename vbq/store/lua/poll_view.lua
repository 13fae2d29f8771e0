-- The poller's slim view of one chunk of a location's in-flight jobs: what it needs to diff a
-- listed Vertex job against the record without reading (or decoding) the whole record.
--
-- KEYS[1] in-flight zset vbq:inflight:{project}:{location}
-- ARGV[1] key prefix ("vbq:"), ARGV[2] first rank, ARGV[3] last rank (ZRANGE, inclusive),
-- ARGV[4] stale cutoff: only members submitted at or before it (epoch s) are looked up for a
-- job.stale marker (younger ones cannot be stale yet).
--
-- Returns one string per member, oldest first: "{id}|{submitted_at}|{state}|{job_name}|{stale}"
-- where stale is "1" when the job.stale marker vbq:stale:{id} exists, else "0". A member whose
-- record is gone has an empty state.

local prefix, cutoff = ARGV[1], tonumber(ARGV[4])
local rows = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'WITHSCORES')
local out = {}
for i = 1, #rows, 2 do
  local id = rows[i]
  local h = redis.call('HMGET', prefix .. 'sub:' .. id, 'state', 'job_name')
  local stale = 0
  if tonumber(rows[i + 1]) <= cutoff then
    stale = redis.call('EXISTS', prefix .. 'stale:' .. id)
  end
  out[#out + 1] = id .. '|' .. rows[i + 1] .. '|' .. (h[1] or '') .. '|' .. (h[2] or '') .. '|' .. stale
end
return out
