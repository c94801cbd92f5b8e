-- Move due entries of a sorted set (schedule or retry) to the end of their queues, stamping
-- enqueued_at. The JSON text is edited, never re-encoded, so every other byte stays as written
-- (Ruby finds jobs by exact value). This must produce what payload.stamp_enqueued_at produces.
-- An entry whose queue cannot be read goes to the dead set instead of being lost.
--
-- KEYS[1]  the source sorted set (schedule or retry)
-- KEYS[2]  queues    SET of known queue names
-- KEYS[3]  dead      where unreadable entries go
-- ARGV[1]  now, float epoch seconds written as Python's repr() writes it
-- ARGV[2]  limit: at most this many entries move
-- ARGV[3]  queue key prefix: queue q is ARGV[3] .. q
-- Returns  how many entries left the source set

local now = ARGV[1]
local stamp = '"enqueued_at":' .. now
local function use_stamp()
  return stamp
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
    -- same pattern as payload._ENQUEUED_AT; a function replacement keeps '%' in `now` literal
    local stamped, replaced = string.gsub(job, '"enqueued_at":%-?%d[%d%.eE%+%-]*', use_stamp, 1)
    if replaced == 0 then
      local body = string.match(job, '^(.-)%s*}%s*$')
      if body then
        local separator = ','
        if string.sub(body, -1) == '{' then
          separator = ''
        end
        stamped = body .. separator .. stamp .. '}'
      end
    end
    redis.call('SADD', KEYS[2], queue)
    redis.call('LPUSH', ARGV[3] .. queue, stamped)
  else
    redis.call('ZADD', KEYS[3], now, job)
  end
end
return #due
