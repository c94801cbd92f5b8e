-- Pause or resume a periodic schedule. Resuming moves last_tick to at least now, so the ticks that
-- fell while it was paused are not enqueued as missed ones.
-- KEYS[1] periodic hash, KEYS[2] the schedule's state hash
-- ARGV[1] name, ARGV[2] "1" to pause or "0" to resume, ARGV[3] now (float seconds, as text)
-- Returns 1 if the schedule exists, else 0.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], 'paused', ARGV[2])
if ARGV[2] == '0' then
  local last = redis.call('HGET', KEYS[2], 'last_tick')
  if not last or tonumber(last) < tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[2], 'last_tick', ARGV[3])
  end
end
return 1
