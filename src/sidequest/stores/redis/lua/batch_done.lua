-- Record batch members' outcomes and fire the events that became due. Each report is one atomic
-- step (the whole script is, so several reports sent together cost one round trip): each event is
-- marked fired (HSETNX, so never twice) and its callback payloads join "schedule" at score now,
-- where the poller enqueues them. After "success" every key of the batch expires in success_ttl.
--
-- KEYS[1]  schedule
-- ARGV[1]  the batch key prefix: a batch's keys are <prefix><bid> (hash) and <prefix><bid>:<part>
--          (unrun, pending, failed, dead sets/hashes; early-done, early-failed, early-dead: outcomes
--          of members not added yet, see batch_add.lua). Built here, as fetch.lua builds queue keys.
-- ARGV[2 + 6k .. 7 + 6k]  report k: bid, member, outcome (success, failure, death or ran), error
--          text, now (float epoch seconds), score for success callbacks (now plus a hair, so
--          complete's are enqueued first)
-- Returns  for each report, the events it fired, in firing order

local function report(base, member, outcome, err, now, success_score)
  local hash, unrun, pending = base, base .. ':unrun', base .. ':pending'
  local failed, dead = base .. ':failed', base .. ':dead'
  local early_done, early_failed, early_dead = base .. ':early-done', base .. ':early-failed', base .. ':early-dead'
  if redis.call('EXISTS', hash) == 0 then
    return {}
  end
  if redis.call('SISMEMBER', pending, member) == 0 then
    local ttl = redis.call('PTTL', hash)
    if outcome == 'success' then
      redis.call('SADD', early_done, member)
      redis.call('PEXPIRE', early_done, ttl)
    elseif (outcome == 'failure' or outcome == 'death') and redis.call('SISMEMBER', early_done, member) == 0 then
      redis.call('HSET', early_failed, member, err)
      redis.call('PEXPIRE', early_failed, ttl)
      if outcome == 'death' then
        redis.call('SADD', early_dead, member)
        redis.call('PEXPIRE', early_dead, ttl)
      end
    end
    return {}
  end
  redis.call('SREM', unrun, member)
  if outcome == 'success' then
    redis.call('SREM', pending, member)
    redis.call('HDEL', failed, member)
  elseif outcome == 'failure' or outcome == 'death' then
    local ttl = redis.call('PTTL', hash)
    redis.call('HSET', failed, member, err)
    redis.call('PEXPIRE', failed, ttl)
    if outcome == 'death' then
      redis.call('SADD', dead, member)
      redis.call('PEXPIRE', dead, ttl)
    end
  end

  local fired = {}
  local function fire(event, score)
    if redis.call('HSETNX', hash, 'fired:' .. event, now) == 1 then
      local payloads = cjson.decode(redis.call('HGET', hash, 'cb:' .. event) or '[]')
      for _, payload in ipairs(payloads) do
        redis.call('ZADD', KEYS[1], score, payload)
      end
      fired[#fired + 1] = event
    end
  end
  if redis.call('SCARD', dead) > 0 then
    fire('death', now)
  end
  if redis.call('SCARD', unrun) == 0 then
    fire('complete', now)
  end
  if redis.call('SCARD', pending) == 0 then
    fire('success', success_score)
    if fired[#fired] == 'success' then
      local linger = math.max(1, math.floor(tonumber(redis.call('HGET', hash, 'success_ttl')) * 1000))
      for _, key in ipairs({hash, unrun, pending, failed, dead, early_done, early_failed, early_dead}) do
        redis.call('PEXPIRE', key, linger)
      end
    end
  end
  return fired
end

local results = {}
for i = 2, #ARGV, 6 do
  results[#results + 1] = report(ARGV[1] .. ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
end
return results
