-- Record how a periodic schedule's job ended; nothing for a schedule that is gone.
-- KEYS[1] periodic hash, KEYS[2] the schedule's state hash
-- ARGV[1] name, ARGV[2] jid, ARGV[3] outcome ("done" or "failed"), ARGV[4] at (float seconds, as text)
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], 'last_outcome', ARGV[3], 'last_outcome_at', ARGV[4])
redis.call('HSETNX', KEYS[2], 'last_jid', ARGV[2])
return 1
