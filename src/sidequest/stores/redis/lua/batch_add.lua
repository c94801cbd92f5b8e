-- Add members to a batch as unrun and pending, and renew the expiry of all its keys.
--
-- KEYS[1]  the batch hash
-- KEYS[2]  unrun set
-- KEYS[3]  pending set
-- KEYS[4]  failed hash
-- KEYS[5]  dead set
-- ARGV[1]  ttl, milliseconds
-- ARGV[2]  1 when the members count toward total (jobs), 0 otherwise (holds, child batches)
-- ARGV[3..] members
-- Returns  how many members were new, or -1 when the batch does not exist

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local added = 0
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 0 then
    redis.call('SADD', KEYS[2], ARGV[i])
    redis.call('SADD', KEYS[3], ARGV[i])
    added = added + 1
  end
end
if ARGV[2] == '1' then
  redis.call('HINCRBY', KEYS[1], 'total', added)
end
for i = 1, 5 do
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return added
