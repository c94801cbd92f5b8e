-- Reliable fetch: move up to `limit` jobs, oldest first, from the queues in the order given into
-- this process's in-progress lists, and register where they went so recovery can find them.
-- The registration happens in the same atomic step as the move, so no job is ever held unregistered.
-- Paused queues (Sidekiq Pro's "paused" set) are skipped in the same step, so a pause is never raced.
--
-- KEYS[1]          sidequest:inprogress            SET of identities that may hold jobs
-- KEYS[2]          sidequest:inprogress:<identity> SET of queue names this identity holds jobs from
-- KEYS[3]          paused                          SET of paused queue names
-- KEYS[2 + 2*i]    queue:<name i>                  the i-th queue to take from
-- KEYS[3 + 2*i]    in-progress list of queue i     newest at the head, like the queue itself
-- ARGV[1]          identity
-- ARGV[2]          limit: how many jobs to take in total
-- ARGV[3]          "1" to register every queue even when nothing is taken (the caller will block on them)
-- ARGV[3 + i]      name of queue i
-- Returns          {{name, payload, name, payload, ...} in the order taken (oldest first per queue),
--                   {names of the given queues that are paused}}

local limit = tonumber(ARGV[2])
local register_all = ARGV[3] == '1'
local taken = {}
local paused = {}
local count = 0
-- one EXISTS in the usual case (nothing paused) instead of a SISMEMBER per queue
local any_paused = redis.call('EXISTS', KEYS[3]) == 1

for i = 1, #ARGV - 3 do
  local want = limit - count
  if want <= 0 and not register_all then
    break
  end
  local name = ARGV[3 + i]
  local jobs = false
  if any_paused and redis.call('SISMEMBER', KEYS[3], name) == 1 then
    paused[#paused + 1] = name
    want = 0
  end
  if want > 0 then
    -- RPOP with a count takes from the tail, the oldest job first (Redis >= 6.2)
    jobs = redis.call('RPOP', KEYS[2 + 2 * i], want)
  end
  if jobs then
    local held = KEYS[3 + 2 * i]
    -- one variadic LPUSH per chunk instead of one per job (unpack's limit is a few thousand values)
    for first = 1, #jobs, 1000 do
      redis.call('LPUSH', held, unpack(jobs, first, math.min(first + 999, #jobs)))
    end
    for _, job in ipairs(jobs) do
      taken[#taken + 1] = name
      taken[#taken + 1] = job
    end
    count = count + #jobs
  end
  if jobs or register_all then
    redis.call('SADD', KEYS[2], name)
  end
end

if count > 0 or register_all then
  redis.call('SADD', KEYS[1], ARGV[1])
end
return {taken, paused}
