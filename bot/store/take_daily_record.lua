-- Take one of a citizen's new records of a day, unless the limit is reached; the same idempotency key
-- (WeChat's retry of the message that made the record) is always allowed and counted once.
-- KEYS: the day's set; ARGV: idempotency key, limit, TTL. Returns {allowed (1/0), count}.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {1, redis.call('SCARD', KEYS[1])} end
local n = redis.call('SCARD', KEYS[1])
if n >= tonumber(ARGV[2]) then return {0, n} end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, n + 1}
