-- Move due entries of a sorted set (schedule or retry) to the end of their queues, stamping
-- enqueued_at. The JSON text is edited, never re-encoded, so every other byte stays as written
-- (Ruby finds jobs by exact value). This must produce what payload.stamp_enqueued_at produces.
-- An entry whose queue cannot be read goes to the dead set instead of being lost, wrapped as
-- stores/base.py's unreadable_entry wraps it (ARGV[4], filled in): its bytes in args[0], the
-- reason in error_message.
--
-- KEYS[1]  the source sorted set (schedule or retry)
-- KEYS[2]  queues    SET of known queue names
-- KEYS[3]  dead      where unreadable entries go
-- ARGV[1]  now, float epoch seconds written as Python's repr() writes it
-- ARGV[2]  limit: at most this many entries move
-- ARGV[3]  queue key prefix: queue q is ARGV[3] .. q
-- ARGV[4]  base.INVALID_PAYLOAD_TEMPLATE, the dead-set wrapper with blanks
-- Returns  how many entries left the source set

local now = ARGV[1]
local set_name = string.match(KEYS[1], '([^:]+)$')

-- include: json_text (string_end, top_level_value_span)

local function stamp_enqueued_at(job)
  local first, last = top_level_value_span(job, 'enqueued_at')
  if first then
    return string.sub(job, 1, first - 1) .. now .. string.sub(job, last + 1)
  end
  local body = string.match(job, '^(.-)%s*}%s*$')
  if not body then
    return job
  end
  local separator = ','
  if string.sub(body, -1) == '{' then
    separator = ''
  end
  return body .. separator .. '"enqueued_at":' .. now .. '}'
end

local due = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  local ok, decoded = pcall(cjson.decode, job)
  local queue = nil
  if ok and type(decoded) == 'table' and type(decoded['queue']) == 'string' and decoded['queue'] ~= '' then
    queue = decoded['queue']
  end
  if queue then
    redis.call('SADD', KEYS[2], queue)
    redis.call('LPUSH', ARGV[3] .. queue, stamp_enqueued_at(job))
  else
    local entry = cjson.decode(ARGV[4])
    entry['args'] = {job}
    entry['jid'] = string.sub(redis.sha1hex(job .. now), 1, 24)
    entry['created_at'] = tonumber(now)
    entry['failed_at'] = tonumber(now)
    entry['error_message'] = 'this ' .. set_name .. ' entry has no readable "queue" (it is not a JSON '
      .. 'object naming its queue, or is nested too deeply to read), so it could not be enqueued when due'
    redis.call('ZADD', KEYS[3], now, cjson.encode(entry))
  end
end
return #due
