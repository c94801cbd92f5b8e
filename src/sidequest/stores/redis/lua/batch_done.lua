-- Record batch members' outcomes, then fire the events that became due, all in one atomic step:
-- each event is marked fired (HSETNX, so never twice) and its callback payloads join "schedule" at
-- score now, where the poller enqueues them. After "success" every key of the batch expires in
-- success_ttl. A worker sends the reports of a whole acknowledgement batch at once, so the fire
-- checks run once per batch id, after its reports.
--
-- KEYS[1]  schedule
-- ARGV[1]  the batch key prefix: a batch's keys are <prefix><bid> (hash) and <prefix><bid>:<part>
--          (unrun, pending, failed, dead; early-done, early-failed, early-dead: outcomes of members
--          not added yet, see batch_add.lua). Built here, as fetch.lua builds queue keys.
-- ARGV[2]  now, float epoch seconds
-- ARGV[3]  score for success callbacks (now plus a hair, so complete's are enqueued first)
-- ARGV[4 + 4k .. 7 + 4k]  report k: bid, member, outcome (success, failure, death or ran), error text
-- Returns  for each report, the events fired for its batch if it is that batch's last report here

local prefix, now, success_score = ARGV[1], ARGV[2], ARGV[3]
local batches = {} -- bid -> {live = bool, changed = bool, last = report index}
local results = {}

local function record(bid, member, outcome, err)
  local base = prefix .. bid
  local state = batches[bid]
  if state == nil then
    state = {live = redis.call('EXISTS', base) == 1, changed = false}
    batches[bid] = state
  end
  if not state.live then
    return
  end
  if outcome == 'success' then
    if redis.call('SREM', base .. ':pending', member) == 1 then
      redis.call('SREM', base .. ':unrun', member)
      redis.call('HDEL', base .. ':failed', member)
      state.changed = true
    else
      local early = base .. ':early-done'
      redis.call('SADD', early, member)
      redis.call('PEXPIRE', early, redis.call('PTTL', base))
    end
    return
  end
  local ttl = redis.call('PTTL', base)
  if redis.call('SISMEMBER', base .. ':pending', member) == 0 then
    if (outcome == 'failure' or outcome == 'death') and redis.call('SISMEMBER', base .. ':early-done', member) == 0 then
      redis.call('HSET', base .. ':early-failed', member, err)
      redis.call('PEXPIRE', base .. ':early-failed', ttl)
      if outcome == 'death' then
        redis.call('SADD', base .. ':early-dead', member)
        redis.call('PEXPIRE', base .. ':early-dead', ttl)
      end
    end
    return
  end
  redis.call('SREM', base .. ':unrun', member)
  state.changed = true
  if outcome == 'failure' or outcome == 'death' then
    redis.call('HSET', base .. ':failed', member, err)
    redis.call('PEXPIRE', base .. ':failed', ttl)
    if outcome == 'death' then
      redis.call('SADD', base .. ':dead', member)
      redis.call('PEXPIRE', base .. ':dead', ttl)
    end
  end
end

local function fire_due(bid)
  local base = prefix .. bid
  local fired = {}
  local function fire(event, score)
    if redis.call('HSETNX', base, 'fired:' .. event, now) == 1 then
      local payloads = cjson.decode(redis.call('HGET', base, 'cb:' .. event) or '[]')
      for _, payload in ipairs(payloads) do
        redis.call('ZADD', KEYS[1], score, payload)
      end
      fired[#fired + 1] = event
    end
  end
  if redis.call('SCARD', base .. ':dead') > 0 then
    fire('death', now)
  end
  if redis.call('SCARD', base .. ':unrun') == 0 then
    fire('complete', now)
  end
  if redis.call('SCARD', base .. ':pending') == 0 then
    fire('success', success_score)
    if fired[#fired] == 'success' then
      local linger = math.max(1, math.floor(tonumber(redis.call('HGET', base, 'success_ttl')) * 1000))
      for _, part in ipairs({'', ':unrun', ':pending', ':failed', ':dead', ':early-done', ':early-failed', ':early-dead'}) do
        redis.call('PEXPIRE', base .. part, linger)
      end
    end
  end
  return fired
end

for i = 4, #ARGV, 4 do
  record(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  batches[ARGV[i]].last = #results + 1
  results[#results + 1] = {}
end
for bid, state in pairs(batches) do
  if state.changed then
    results[state.last] = fire_due(bid)
  end
end
return results
