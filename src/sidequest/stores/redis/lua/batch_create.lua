-- Create a batch unless it exists: its hash (meta, created_at, success_ttl, callbacks per event as a
-- JSON array of payloads), an entry in the batch index, and the data's expiry.
--
-- KEYS[1]  the batch hash
-- KEYS[2]  the batch index (sorted set of bids by created_at)
-- ARGV[1]  bid
-- ARGV[2]  meta JSON
-- ARGV[3]  created_at, float epoch seconds
-- ARGV[4]  ttl, milliseconds
-- ARGV[5]  success_ttl, seconds
-- ARGV[6], ARGV[7], ARGV[8]  JSON arrays of the death, complete and success callback payloads
-- Returns  1 when created, 0 when the batch already existed

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'created_at', ARGV[3], 'success_ttl', ARGV[5], 'total', 0,
  'cb:death', ARGV[6], 'cb:complete', ARGV[7], 'cb:success', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
