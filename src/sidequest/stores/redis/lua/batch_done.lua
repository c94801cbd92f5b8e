-- Record a batch member's outcome and fire the events that became due, in one atomic step: each
-- event is marked fired (HSETNX, so never twice) and its callback payloads join "schedule" at score
-- now, where the poller enqueues them. After "success" every key of the batch expires in success_ttl.
--
-- KEYS[1]  the batch hash
-- KEYS[2]  unrun set
-- KEYS[3]  pending set
-- KEYS[4]  failed hash (member -> error)
-- KEYS[5]  dead set
-- KEYS[6]  schedule
-- KEYS[7]  early done set, KEYS[8] early failed hash, KEYS[9] early dead set (see batch_add.lua):
--          the outcome of a member that is not pending is kept there and changes nothing else
-- ARGV[1]  member
-- ARGV[2]  outcome: success, failure, death or ran
-- ARGV[3]  error text (failure, death)
-- ARGV[4]  now, float epoch seconds
-- ARGV[5]  score for success callbacks (now plus a hair, so complete's are enqueued first)
-- Returns  the events fired by this call, in firing order

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local member, outcome = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', KEYS[3], member) == 0 then
  local ttl = redis.call('PTTL', KEYS[1])
  if outcome == 'success' then
    redis.call('SADD', KEYS[7], member)
    redis.call('PEXPIRE', KEYS[7], ttl)
  elseif (outcome == 'failure' or outcome == 'death') and redis.call('SISMEMBER', KEYS[7], member) == 0 then
    redis.call('HSET', KEYS[8], member, ARGV[3])
    redis.call('PEXPIRE', KEYS[8], ttl)
    if outcome == 'death' then
      redis.call('SADD', KEYS[9], member)
      redis.call('PEXPIRE', KEYS[9], ttl)
    end
  end
  return {}
end
redis.call('SREM', KEYS[2], member)
if outcome == 'success' then
  redis.call('SREM', KEYS[3], member)
  redis.call('HDEL', KEYS[4], member)
elseif outcome == 'failure' or outcome == 'death' then
  local ttl = redis.call('PTTL', KEYS[1])
  redis.call('HSET', KEYS[4], member, ARGV[3])
  redis.call('PEXPIRE', KEYS[4], ttl)
  if outcome == 'death' then
    redis.call('SADD', KEYS[5], member)
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
end

local fired = {}
local function fire(event, score)
  if redis.call('HSETNX', KEYS[1], 'fired:' .. event, ARGV[4]) == 1 then
    local payloads = cjson.decode(redis.call('HGET', KEYS[1], 'cb:' .. event) or '[]')
    for _, payload in ipairs(payloads) do
      redis.call('ZADD', KEYS[6], score, payload)
    end
    fired[#fired + 1] = event
  end
end
if redis.call('SCARD', KEYS[5]) > 0 then
  fire('death', ARGV[4])
end
if redis.call('SCARD', KEYS[2]) == 0 then
  fire('complete', ARGV[4])
end
if redis.call('SCARD', KEYS[3]) == 0 then
  fire('success', ARGV[5])
  if fired[#fired] == 'success' then
    local linger = math.floor(tonumber(redis.call('HGET', KEYS[1], 'success_ttl')) * 1000)
    for _, key in ipairs({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7], KEYS[8], KEYS[9]}) do
      redis.call('PEXPIRE', key, math.max(1, linger))
    end
  end
end
return fired
