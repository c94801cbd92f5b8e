-- Acknowledge: remove finished jobs from this process's in-progress lists, many jobs in one call.
-- One call instead of a pipeline of LREMs because the client's cost is per command, not per byte.
--
-- KEYS[i]            in-progress list of the i-th queue (sidequest:inprogress:<identity>|<queue>)
-- ARGV[i]            how many of the payloads that follow belong to KEYS[i], for i = 1 .. #KEYS
-- ARGV[#KEYS + 1 ..] the payloads, grouped by key in the order of KEYS
-- Returns            how many jobs were removed (a job already recovered by another process is not)

local removed = 0
local at = #KEYS + 1
for i = 1, #KEYS do
  local key = KEYS[i]
  for _ = 1, tonumber(ARGV[i]) do
    -- count -1 searches from the tail, where the oldest (usually first finished) jobs are
    removed = removed + redis.call('LREM', key, -1, ARGV[at])
    at = at + 1
  end
end
return removed
