-- Retry now / add to queue: move entries of a sorted set to the end of their queues. Each entry is
-- pushed only if this call removed it, so two operators acting on one entry enqueue it once.
--
-- KEYS[1]          the source sorted set (schedule, retry or dead)
-- KEYS[2]          queues    SET of known queue names
-- KEYS[2 + i]      queue:<queue of entry i>
-- ARGV[3*i - 2]    entry i as stored in the set
-- ARGV[3*i - 1]    what to push for entry i (enqueued_at already stamped)
-- ARGV[3*i]        queue name of entry i
-- Returns          how many entries moved

local moved = 0
for i = 1, #ARGV / 3 do
  if redis.call('ZREM', KEYS[1], ARGV[3 * i - 2]) == 1 then
    redis.call('LPUSH', KEYS[2 + i], ARGV[3 * i - 1])
    redis.call('SADD', KEYS[2], ARGV[3 * i])
    moved = moved + 1
  end
end
return moved
