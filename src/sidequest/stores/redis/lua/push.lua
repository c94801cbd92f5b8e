-- Push: register each queue and LPUSH its jobs, for one job or a whole batch, in one call.
-- One call instead of a SADD + LPUSH pipeline because the client's cost is per command. Order across
-- the batch is kept: consecutive jobs for the same queue form one run; a queue may have several runs.
--
-- KEYS[1]            queues                         SET of queue names
-- KEYS[1 + i]        queue:<name of run i>          LIST, newest at the head
-- ARGV[i]            name of run i's queue, for i = 1 .. #KEYS - 1
-- ARGV[#KEYS - 1 + i] how many payloads run i has
-- ARGV[2 * (#KEYS - 1) + 1 ..] the payloads, run after run
-- Returns            how many jobs were pushed

local runs = #KEYS - 1
local at = 2 * runs + 1
local pushed = 0
for i = 1, runs do
  -- the queue is known before its jobs appear, as with Sidekiq's SADD-then-LPUSH
  redis.call('SADD', KEYS[1], ARGV[i])
  local count = tonumber(ARGV[runs + i])
  -- unpack in slices: Lua's stack holds a few thousand values at most
  local first = at
  while first < at + count do
    local last = math.min(first + 999, at + count - 1)
    redis.call('LPUSH', KEYS[1 + i], unpack(ARGV, first, last))
    first = last + 1
  end
  at = at + count
  pushed = pushed + count
end
return pushed
