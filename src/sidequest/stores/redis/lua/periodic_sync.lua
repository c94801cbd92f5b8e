-- Make the stored periodic schedules exactly the given ones; return the names removed.
-- KEYS[1] periodic hash (name -> definition JSON)
-- ARGV[1] state key prefix, ARGV[2] now (float seconds), ARGV[3..] name, definition pairs
local prefix, now = ARGV[1], ARGV[2]
local wanted = {}
for i = 3, #ARGV, 2 do
  wanted[ARGV[i]] = ARGV[i + 1]
end
local removed = {}
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if wanted[name] == nil then
    redis.call('HDEL', KEYS[1], name)
    redis.call('DEL', prefix .. name)
    removed[#removed + 1] = name
  end
end
for name, definition in pairs(wanted) do
  redis.call('HSET', KEYS[1], name, definition)
  -- a new schedule starts at now: ticks before it was registered never fire
  redis.call('HSETNX', prefix .. name, 'last_tick', now)
  redis.call('HSETNX', prefix .. name, 'paused', '0')
end
table.sort(removed)
return removed
