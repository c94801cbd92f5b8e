-- Add members to a batch as unrun and pending, and renew the expiry of all its keys.
--
-- KEYS[1]  the batch hash
-- KEYS[2]  unrun set
-- KEYS[3]  pending set
-- KEYS[4]  failed hash
-- KEYS[5]  dead set
-- KEYS[6]  early done set: members that succeeded before they were added
-- KEYS[7]  early failed hash: members that failed before they were added -> error
-- KEYS[8]  early dead set: members of KEYS[7] that died
-- ARGV[1]  ttl, milliseconds
-- ARGV[2]  1 when the members count toward total (jobs), 0 otherwise (holds, child batches)
-- ARGV[3..] members, each once
-- Returns  how many members were new, or -1 when the batch does not exist
-- A member that already reported gets that outcome now: succeeded ones only count toward total,
-- failed ones are pending (not unrun) with their error. Never fires an event.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local added = 0
-- outcomes reported before their member was added are rare: look for them only when there are some
local early_done = redis.call('EXISTS', KEYS[6]) == 1
local early_failed = redis.call('EXISTS', KEYS[7]) == 1
for i = 3, #ARGV do
  local member = ARGV[i]
  if early_done and redis.call('SREM', KEYS[6], member) == 1 then
    redis.call('HDEL', KEYS[7], member)
    redis.call('SREM', KEYS[8], member)
    added = added + 1
  elseif redis.call('SADD', KEYS[3], member) == 1 then
    added = added + 1
    local error = early_failed and redis.call('HGET', KEYS[7], member)
    if error then
      redis.call('HDEL', KEYS[7], member)
      redis.call('HSET', KEYS[4], member, error)
      if redis.call('SREM', KEYS[8], member) == 1 then
        redis.call('SADD', KEYS[5], member)
      end
    else
      redis.call('SADD', KEYS[2], member)
    end
  end
end
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[1], 'total', added)
end
for i = 1, 8 do
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return added
