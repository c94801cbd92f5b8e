-- Release a unique-job lock only if the given jid holds it.
-- KEYS[1] the lock key
-- ARGV[1] jid
-- Returns 1 when released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
