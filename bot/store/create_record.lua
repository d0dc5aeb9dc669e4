-- Create a record once. KEYS: record, history, open index, staff set, user list, idempotency key, all
-- ARGV: record number, record JSON fields (flat), history entry, due timestamp, idempotency TTL
if redis.call('SET', KEYS[6], ARGV[1], 'NX', 'EX', tonumber(ARGV[5])) == false then
  return redis.call('GET', KEYS[6])
end
local fields = cjson.decode(ARGV[2])
for k, v in pairs(fields) do redis.call('HSET', KEYS[1], k, v) end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[3], tonumber(ARGV[4]), ARGV[1])
if KEYS[4] ~= KEYS[1] then redis.call('SADD', KEYS[4], ARGV[1]) end
if KEYS[5] ~= KEYS[1] then redis.call('RPUSH', KEYS[5], ARGV[1]) end
redis.call('ZADD', KEYS[7], tonumber(ARGV[6]), ARGV[1])
return ARGV[1]
