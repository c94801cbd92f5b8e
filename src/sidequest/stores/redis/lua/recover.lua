-- Recover one process: if its heartbeat hash is gone, push every job it still holds back onto its
-- queue (oldest ends at the tail, next out) and forget the process's in-progress registration.
-- Each job's recoveries are counted (a counter per payload, by SHA1, expiring ARGV[7] seconds after
-- its last recovery); a job recovered for the ARGV[4]-th time is a poison pill and goes to the dead
-- set instead, edited as stores/base.py's crashed_entry edits it (dropped if it says "dead": false).
-- A live process (heartbeat present) is left alone: checking and moving in one script means a job
-- is recovered (and counted) once even when several processes recover at the same time.
--
-- KEYS[1]  sidequest:inprogress             SET of identities that may hold jobs
-- KEYS[2]  <identity>                       the heartbeat hash; its existence means "alive"
-- KEYS[3]  sidequest:inprogress:<identity>  SET of queue names the identity holds jobs from
-- KEYS[4]  queues                           SET of known queue names
-- KEYS[5]  dead                             where poison pills go
-- ARGV[1]  identity
-- ARGV[2]  in-progress list key prefix: the list of queue q is ARGV[2] .. q
-- ARGV[3]  queue key prefix: queue q is ARGV[3] .. q
-- ARGV[4]  max recoveries: the recovery that reaches it buries the job
-- ARGV[5]  recovery counter key prefix: a job's counter is ARGV[5] .. sha1(payload)
-- ARGV[6]  now, float epoch seconds written as Python's repr() writes it
-- ARGV[7]  seconds a recovery counter lives after its last recovery
-- ARGV[8]  base.INVALID_PAYLOAD_TEMPLATE, the dead-set wrapper for a pill that is not a JSON object
-- Returns  a flat array, four items per job taken: queue, payload, recoveries, 1 if buried else 0
--          (empty for a live process)

if redis.call('EXISTS', KEYS[2]) == 1 then
  return {}
end

local now = ARGV[6]
local limit = tonumber(ARGV[4])

-- include: json_text (string_end, top_level_value_span)

-- Set key's value to the JSON text `value` (only when absent unless `replace`), editing the text.
local function put(s, key, value, replace)
  local first, last = top_level_value_span(s, key)
  if first then
    if replace then
      return string.sub(s, 1, first - 1) .. value .. string.sub(s, last + 1)
    end
    return s
  end
  local body = string.match(s, '^(.-)%s*}%s*$')
  local separator = ','
  if string.sub(body, -1) == '{' then
    separator = ''
  end
  return body .. separator .. '"' .. key .. '":' .. value .. '}'
end

-- The dead-set entry for a poison pill, or nil to drop it ("dead": false). Mirrors crashed_entry.
local function crashed_entry(job, recoveries)
  local message = 'the worker process running this job died ' .. recoveries
    .. ' times (it was recovered after each crash); moved to the dead set instead of running it again'
  local ok, decoded = pcall(cjson.decode, job)
  if not (ok and type(decoded) == 'table' and string.match(job, '^%s*{')) then
    local entry = cjson.decode(ARGV[8])
    entry['args'] = {job}
    entry['jid'] = string.sub(redis.sha1hex(job .. now), 1, 24)
    entry['created_at'] = tonumber(now)
    entry['failed_at'] = tonumber(now)
    entry['error_message'] = message
    entry['error_class'] = 'ProcessCrashed'
    return cjson.encode(entry)
  end
  local first, last = top_level_value_span(job, 'dead')
  if first and string.sub(job, first, last) == 'false' then
    return nil
  end
  local entry = put(job, 'error_class', '"ProcessCrashed"', true)
  entry = put(entry, 'error_message', '"' .. message .. '"', true)
  return put(entry, 'failed_at', now, false)
end

local taken = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local held = ARGV[2] .. name
  local queue = ARGV[3] .. name
  local requeued = 0
  -- newest first, each to the tail: the oldest ends up next out
  local job = redis.call('LPOP', held)
  while job do
    local counter = ARGV[5] .. redis.sha1hex(job)
    local recoveries = redis.call('INCR', counter)
    local buried = 0
    if recoveries >= limit then
      buried = 1
      redis.call('DEL', counter)
      local entry = crashed_entry(job, recoveries)
      if entry then
        redis.call('ZADD', KEYS[5], now, entry)
      end
    else
      redis.call('EXPIRE', counter, tonumber(ARGV[7]))
      redis.call('RPUSH', queue, job)
      requeued = requeued + 1
    end
    taken[#taken + 1] = name
    taken[#taken + 1] = job
    taken[#taken + 1] = recoveries
    taken[#taken + 1] = buried
    job = redis.call('LPOP', held)
  end
  if requeued > 0 then
    redis.call('SADD', KEYS[4], name)
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[1], ARGV[1])
return taken
