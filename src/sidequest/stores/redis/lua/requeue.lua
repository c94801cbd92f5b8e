-- Give fetched jobs back: each job that is still in its in-progress list leaves it and goes to the
-- tail of its queue, so it is the next one fetched (Sidekiq requeues with RPUSH too). A job that is
-- no longer held (recovered by another process meanwhile) is not pushed a second time.
--
-- KEYS[1]          queues                          SET of known queue names
-- KEYS[2*i]        in-progress list of job i
-- KEYS[2*i + 1]    queue:<queue of job i>
-- ARGV[2*i - 1]    queue name of job i
-- ARGV[2*i]        payload of job i, exactly as fetched
-- Returns          how many jobs went back to their queues

local requeued = 0
for i = 1, #ARGV / 2 do
  local name = ARGV[2 * i - 1]
  local job = ARGV[2 * i]
  -- count -1 searches from the tail, where the oldest (usually first finished) jobs are
  if redis.call('LREM', KEYS[2 * i], -1, job) == 1 then
    redis.call('RPUSH', KEYS[2 * i + 1], job)
    redis.call('SADD', KEYS[1], name)
    requeued = requeued + 1
  end
end
return requeued
