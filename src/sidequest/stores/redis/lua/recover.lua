-- Recover one process: if its heartbeat hash is gone, push every job it still holds back onto its
-- queue (oldest ends at the tail, next out) and forget the process's in-progress registration.
-- A live process (heartbeat present) is left alone: checking and moving in one script means a job
-- is recovered once even when several processes recover at the same time.
--
-- KEYS[1]  sidequest:inprogress             SET of identities that may hold jobs
-- KEYS[2]  <identity>                       the heartbeat hash; its existence means "alive"
-- KEYS[3]  sidequest:inprogress:<identity>  SET of queue names the identity holds jobs from
-- KEYS[4]  queues                           SET of known queue names
-- ARGV[1]  identity
-- ARGV[2]  in-progress list key prefix: the list of queue q is ARGV[2] .. q
-- ARGV[3]  queue key prefix: queue q is ARGV[3] .. q
-- Returns  how many jobs went back to their queues (0 for a live process)

if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end

local recovered = 0
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local held = ARGV[2] .. name
  local queue = ARGV[3] .. name
  local moved = 0
  -- LEFT to RIGHT: the newest held job goes back first, so the oldest ends up next out
  while redis.call('LMOVE', held, queue, 'LEFT', 'RIGHT') do
    moved = moved + 1
  end
  if moved > 0 then
    redis.call('SADD', KEYS[4], name)
    recovered = recovered + moved
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[1], ARGV[1])
return recovered
