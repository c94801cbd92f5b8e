-- Kill: move entries of a sorted set to the dead set at score now, then trim the dead set as
-- Sidekiq's DeadSet#kill does (too old first, then by rank). An entry no longer in the source set
-- (moved by someone else meanwhile) is left alone.
--
-- KEYS[1]          the source sorted set (schedule, retry or dead)
-- KEYS[2]          dead
-- ARGV[1]          now, float epoch seconds
-- ARGV[2]          oldest score kept: now - max_age
-- ARGV[3]          trim rank: entries 0 .. ARGV[3] go (Sidekiq's -max_jobs)
-- ARGV[3 + i]      entry i as stored in the set
-- Returns          how many entries moved

local moved = 0
for i = 4, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, tonumber(ARGV[3]))
end
return moved
