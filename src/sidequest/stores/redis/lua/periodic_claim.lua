-- Claim a periodic tick and push its job in one step (or, with mode "now", push out of band).
-- KEYS[1] periodic hash, KEYS[2] the schedule's state hash, KEYS[3] queues set, KEYS[4] the queue list
-- ARGV[1] name, ARGV[2] mode ("tick" or "now"), ARGV[3] tick (float seconds, as text),
-- ARGV[4] queue name, ARGV[5] payload, ARGV[6] jid, ARGV[7] now (float seconds, as text)
-- Returns 1 when the job was pushed, 0 otherwise.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
if ARGV[2] == 'tick' then
  if redis.call('HGET', KEYS[2], 'paused') == '1' then
    return 0
  end
  local last = redis.call('HGET', KEYS[2], 'last_tick')
  if last and tonumber(last) >= tonumber(ARGV[3]) then
    return 0
  end
  redis.call('HSET', KEYS[2], 'last_tick', ARGV[3])
end
redis.call('HSET', KEYS[2], 'last_jid', ARGV[6], 'last_enqueued_at', ARGV[7])
redis.call('HDEL', KEYS[2], 'last_outcome', 'last_outcome_at')
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('LPUSH', KEYS[4], ARGV[5])
return 1
