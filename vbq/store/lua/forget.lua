-- Shared by delete.lua and expire.lua (spliced in by vbq.store.scripts at the "@include" line):
-- remove every index entry and key a finished submission owns, except its record hash (the
-- caller deletes it, or keeps what it needs first). docs/contracts.md § Job store lists the keys.
--
-- forget_submission(prefix, id, f, with_inbox):
--   f: {state, tenant, labels, idempotency_key, project, location, model, display_name}, the
--      record's fields in that order (FORGET_FIELDS, for HMGET);
--   with_inbox: also delete the subscriber inbox marks named in its timeline (retention does;
--      a delete keeps them until their own TTL, so a late redelivery is still recognised).
local FORGET_FIELDS = {'state', 'tenant', 'labels', 'idempotency_key', 'project', 'location',
  'model', 'display_name'}

local function forget_submission(prefix, id, f, with_inbox)
  local state, owner = f[1], f[2] or 'default'
  -- listing indexes
  redis.call('ZREM', prefix .. 'idx:all', id)
  redis.call('ZREM', prefix .. 'idx:state:' .. state, id)
  redis.call('ZREM', prefix .. 'idx:tenant:' .. owner, id)
  if f[3] and f[3] ~= '' then
    local ok, labels = pcall(cjson.decode, f[3])
    if ok and type(labels) == 'table' then
      for k, v in pairs(labels) do
        redis.call('ZREM', prefix .. 'idx:label:' .. k .. ':' .. tostring(v), id)
      end
    end
  end
  -- idempotency key (only while it still names this submission)
  if f[4] and f[4] ~= '' then
    local idem = prefix .. 'idem:' .. owner .. ':' .. f[4]
    if redis.call('GET', idem) == id then
      redis.call('DEL', idem)
    end
  end
  -- work lists and per-submission markers
  local place = (f[5] or '') .. ':' .. (f[6] or '')
  local inflight = prefix .. 'inflight:' .. place
  redis.call('ZREM', inflight, id)
  if redis.call('EXISTS', inflight) == 0 then
    redis.call('ZREM', prefix .. 'poll:locations', place)
  end
  redis.call('ZREM', prefix .. 'submit:due', id)
  redis.call('ZREM', prefix .. 'results:due', id)
  redis.call('ZREM', prefix .. 'finished', id)
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
  if f[7] and f[7] ~= '' then
    redis.call('ZREM', prefix .. 'idx:model:' .. f[7], id)
  end
  if f[8] and f[8] ~= '' then
    redis.call('ZREM', prefix .. 'idx:name:' .. owner, string.lower(f[8]) .. '\0' .. id)
  end
  -- subscriber inbox marks: the timeline names every group that handled an event of it
  local timeline = prefix .. 'timeline:' .. id
  if with_inbox then
    for _, entry in ipairs(redis.call('LRANGE', timeline, 0, -1)) do
      local group, event_state = string.match(entry, '^[^|]*|handled|([^|]*)|([^|]*)|')
      if group and group ~= '' then
        local mark = prefix .. 'inbox:' .. group .. ':' .. id .. ':' .. event_state
        redis.call('DEL', mark, mark .. ':handlers')
      end
    end
  end
  redis.call('DEL', timeline)
end
