-- Create one submission atomically: idempotency check, record hash, listing indexes.
--
-- KEYS[1] record hash vbq:sub:{id}; KEYS[2] (optional) idempotency key vbq:idem:{tenant}:{key}
-- ARGV[1] id, ARGV[2] spec fingerprint, ARGV[3] tenant, ARGV[4] key prefix ("vbq:"),
-- ARGV[5] the tenant's max_queued cap ("0" = none),
-- ARGV[6] n = number of label index suffixes, ARGV[7 .. 6+n] label suffixes "k:v",
-- ARGV[7+n ..] field/value pairs of the record (project, location, priority among them).
--
-- Returns {"created", created_at} | {"exists", HGETALL of the existing record}
--       | {"conflict", existing id} | {"cap", "max_queued", queued now} (nothing written).
-- A created submission joins its scheduler queue in the same call (docs/contracts.md
-- § Scheduler): vbq:sched:queue:{project}:{location}:{tenant}:{priority}, score = arrival
-- number, and its tenant becomes active at the place with start tag max(old tag, clock).
-- Index keys are derived from the prefix inside the script: vbq runs on a single Redis
-- (not a cluster), where that is allowed, and it keeps the whole create in one round trip.

local sub = KEYS[1]
local idem = KEYS[2]
local id, fp, tenant, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_queued = tonumber(ARGV[5])
local nlabels = tonumber(ARGV[6])
local first_field = 7 + nlabels

local existing = false
if idem then
  existing = redis.call('GET', idem)
end
if not existing and redis.call('EXISTS', sub) == 1 then
  existing = id
end
if existing then
  local key = prefix .. 'sub:' .. existing
  local efp = redis.call('HGET', key, 'fingerprint')
  if efp == fp then
    return {'exists', redis.call('HGETALL', key)}
  end
  if efp then
    return {'conflict', existing}
  end
  -- A dangling idempotency key (its record is gone) is rebound below.
end

local counts = prefix .. 'count:tenant-state'
if max_queued > 0 then
  local queued = tonumber(redis.call('HGET', counts, tenant .. ':ACCEPTED') or '0')
  if queued >= max_queued then
    return {'cap', 'max_queued', tostring(queued)}
  end
end

local t = redis.call('TIME')
local now = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))

local fields = {
  'id', id, 'state', 'ACCEPTED', 'fingerprint', fp, 'tenant', tenant,
  'created_at', now, 'updated_at', now, 'version', '1', 'attempts', '0',
}
local project, location, priority, locations = '', '', 'default', ''
for i = first_field, #ARGV - 1, 2 do
  local name = ARGV[i]
  if name == 'project' then
    project = ARGV[i + 1]
  elseif name == 'location' then
    location = ARGV[i + 1]
  elseif name == 'priority' then
    priority = ARGV[i + 1]
  elseif name == 'locations' then
    locations = ARGV[i + 1]
  end
end
-- The scheduler queue (arrival number from one counter: strict arrival order).
local seq = redis.call('INCR', prefix .. 'sched:seq')
fields[#fields + 1] = 'qseq'
fields[#fields + 1] = tostring(seq)
for i = first_field, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', sub, unpack(fields))
if idem then
  redis.call('SET', idem, id)
end
redis.call('ZADD', prefix .. 'idx:all', now, id)
redis.call('ZADD', prefix .. 'idx:state:ACCEPTED', now, id)
redis.call('ZADD', prefix .. 'idx:tenant:' .. tenant, now, id)
for i = 7, 6 + nlabels do
  redis.call('ZADD', prefix .. 'idx:label:' .. ARGV[i], now, id)
end
-- Several acceptable locations (field "locations", comma-separated): queued at each place;
-- the first place to dispatch it claims it (docs/contracts.md § Placement).
local queued_at = {location}
if locations ~= '' then
  queued_at = {}
  for loc in string.gmatch(locations, '[^,]+') do queued_at[#queued_at + 1] = loc end
end
for _, loc in ipairs(queued_at) do
  local place = project .. ':' .. loc
  redis.call('ZADD', prefix .. 'sched:queue:' .. place .. ':' .. tenant .. ':' .. priority, seq, id)
  local active = prefix .. 'sched:active:' .. place
  if not redis.call('ZSCORE', active, tenant) then
    local clock = tonumber(redis.call('GET', prefix .. 'sched:clock:' .. place) or '0')
    local last = tonumber(redis.call('HGET', prefix .. 'sched:tags:' .. place, tenant) or '0')
    redis.call('ZADD', active, math.max(clock, last), tenant)
    redis.call('SADD', prefix .. 'sched:places', project .. '|' .. loc)
  end
end

-- [console indexes] begin (docs/contracts.md § Console): per-tenant-and-state counts and
-- index, the model index, the display-name prefix index and the first timeline entry.
local model, dname = '', ''
for i = first_field, #ARGV - 1, 2 do
  if ARGV[i] == 'model' then
    model = ARGV[i + 1]
  elseif ARGV[i] == 'display_name' then
    dname = ARGV[i + 1]
  end
end
redis.call('HINCRBY', counts, tenant .. ':ACCEPTED', 1)
redis.call('ZADD', prefix .. 'idx:tenant-state:' .. tenant .. ':ACCEPTED', now, id)
if model ~= '' then
  redis.call('ZADD', prefix .. 'idx:model:' .. model, now, id)
  redis.call('SADD', prefix .. 'idx:models', model)
end
if dname ~= '' then
  -- string.lower folds ASCII only; vbq.store.query folds the search text the same way.
  redis.call('ZADD', prefix .. 'idx:name:' .. tenant, 0, string.lower(dname) .. '\0' .. id)
end
redis.call('RPUSH', prefix .. 'timeline:' .. id, now .. '|state||ACCEPTED|')
-- [console indexes] end
return {'created', now}
