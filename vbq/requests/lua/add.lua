-- Add many requests atomically (each one: idempotency check, pack assignment, record).
--
-- ARGV[1] key prefix ("vbq:"), ARGV[2] max rows per pack, ARGV[3] max bytes per pack, then
-- 13 values per request: id, fingerprint, pack group, a fresh pack id (used when the group has
-- no open pack), the JSONL line, its size in bytes (newline included), project, location,
-- model, pack tenant ("" = shared), tenant, idempotency key ("" = none), metadata JSON ("").
--
-- Returns one reply per request: {"created", now, pack id, pack sealed before it or "", pack
-- sealed by it or ""} | {"exists", HGETALL} | {"conflict"}.
-- A request is assigned to exactly one pack here, once; a pack that would overflow is sealed
-- first, a pack that a request fills is sealed at once (the caller triggers its flush). Lines
-- and ids are appended once per pack at the end (one RPUSH each), in request order.
-- Keys are derived from the prefix: vbq runs on a single Redis (not a cluster).

local prefix = ARGV[1]
local max_rows, max_bytes = tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
local packs, order, open = {}, {}, {}

local function open_key(group)
  return prefix .. 'pack-open:' .. group
end

local function open_pack(group)
  if open[group] == nil then
    local pid = redis.call('GET', open_key(group))
    if pid and not packs[pid] then
      local cur = redis.call('HMGET', prefix .. 'pack:' .. pid, 'rows', 'bytes')
      packs[pid] = {rows = tonumber(cur[1]), bytes = tonumber(cur[2]), lines = {}, ids = {}}
      order[#order + 1] = pid
    end
    open[group] = pid or false
  end
  return open[group]
end

local function seal(pid, group)
  redis.call('HSET', prefix .. 'pack:' .. pid, 'state', 'SEALED', 'sealed_at', now, 'reason', 'full')
  if redis.call('GET', open_key(group)) == pid then
    redis.call('DEL', open_key(group))
  end
  redis.call('ZREM', prefix .. 'packs:open', pid)
  redis.call('ZADD', prefix .. 'packs:sealed', now, pid)
  open[group] = false
end

local out, added = {}, 0
for i = 4, #ARGV, 13 do
  local id, fp, group = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local size = tonumber(ARGV[i + 5])
  local req = prefix .. 'req:' .. id
  local efp = redis.call('HGET', req, 'fingerprint')
  if efp then
    if efp == fp then
      out[#out + 1] = {'exists', redis.call('HGETALL', req)}
    else
      out[#out + 1] = {'conflict'}
    end
  else
    local sealed_before = ''
    local pid = open_pack(group)
    if pid and (packs[pid].rows + 1 > max_rows or packs[pid].bytes + size > max_bytes) then
      seal(pid, group)
      sealed_before = pid
      pid = false
    end
    if not pid then
      pid = ARGV[i + 3]
      redis.call('HSET', prefix .. 'pack:' .. pid, 'id', pid, 'state', 'OPEN', 'group', group,
        'project', ARGV[i + 6], 'location', ARGV[i + 7], 'model', ARGV[i + 8],
        'tenant', ARGV[i + 9], 'rows', 0, 'bytes', 0, 'created_at', now)
      redis.call('SET', open_key(group), pid)
      redis.call('ZADD', prefix .. 'packs:open', now, pid)
      packs[pid] = {rows = 0, bytes = 0, lines = {}, ids = {}}
      order[#order + 1] = pid
      open[group] = pid
    end
    local p = packs[pid]
    p.rows = p.rows + 1
    p.bytes = p.bytes + size
    p.lines[#p.lines + 1] = ARGV[i + 4]
    p.ids[#p.ids + 1] = id
    redis.call('HSET', req, 'id', id, 'state', 'PENDING', 'fingerprint', fp, 'pack', pid,
      'created_at', now, 'tenant', ARGV[i + 10], 'model', ARGV[i + 8], 'project', ARGV[i + 6],
      'location', ARGV[i + 7], 'bytes', size)
    if ARGV[i + 11] ~= '' then
      redis.call('HSET', req, 'idempotency_key', ARGV[i + 11])
    end
    if ARGV[i + 12] ~= '' then
      redis.call('HSET', req, 'metadata', ARGV[i + 12])
    end
    added = added + 1
    local sealed_now = ''
    if p.rows >= max_rows or p.bytes >= max_bytes then
      seal(pid, group)
      sealed_now = pid
    end
    out[#out + 1] = {'created', now, pid, sealed_before, sealed_now}
  end
end

for _, pid in ipairs(order) do
  local p = packs[pid]
  local pack = prefix .. 'pack:' .. pid
  if #p.lines > 0 then
    redis.call('RPUSH', pack .. ':lines', unpack(p.lines))
    redis.call('RPUSH', pack .. ':ids', unpack(p.ids))
    redis.call('HSET', pack, 'rows', p.rows, 'bytes', p.bytes)
  end
end
if added > 0 then
  redis.call('HINCRBY', prefix .. 'requests:counts', 'PENDING', added)
end
return out
