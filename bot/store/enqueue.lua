-- Queue an outbox message unless one with its id (a dedup key) exists already.
-- KEYS: message hash, due set, the user's list (all {outbox}); ARGV: fields JSON (strings), now, keep seconds
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local item = cjson.decode(ARGV[1])
for k, v in pairs(item) do redis.call('HSET', KEYS[1], k, v) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[2], ARGV[2], item['id'])
redis.call('RPUSH', KEYS[3], item['id'])
redis.call('LTRIM', KEYS[3], -50, -1)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
return 1
